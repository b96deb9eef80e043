"""The OpenAPI document is a contract: requests generated from it never get a 5xx, and every
answer has a documented status code, content type and body.

The service runs for real (PostgreSQL, Redis, the fake WeChat server) on a local port, in a
thread with its own event loop, because the generated requests are sent synchronously. It has
the demo data, and every request carries the demo citizen's bearer token and an agent's console
cookie (each API reads only its own) and, for the integration API, a valid signature, so the
handlers behind authentication are exercised rather than refused with 401.

Three passes: every operation with generated input, valid and invalid; the operations with
path parameters again, with valid input naming things that exist (the demo tickets, documents,
enterprise, an application), so the handlers behind the 404 are reached too; and every operation
from a stranger, whose sessions have ended and who cannot sign, so the refusals are checked too. Generated ID
numbers and credit codes would almost never carry a right check character, so valid input gets
real-looking ones. No operation is excluded: every one in the document is a JSON API; only
requests longer than the HTTP server accepts at all are not sent (see Caller.send).
Each operation's first failure is collected (shrunk) and all are reported together; what the
fuzzing found once is pinned below as plain examples.

The schemathesis pytest plugin's fixture-based loader does not run under pytest 9.2 (it sets a
node attribute pytest no longer has), so the cases are drawn with its Python API and run with
hypothesis directly, derandomized.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
import uuid
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.integration import PREFIX as INTEGRATION_PREFIX
from core.integration import sign
from hotline.console_api import STAFF_ACTIONS
from hotline.demo import DEMO_PASSWORD
from hotline.queues import QUEUES
from hotline.staff import COOKIE
from personal_space.demo import CITIZEN
from server import create_app
from tests.fake_wechat import start_fake_wechat
from tests.hotline_helpers import desk, hotline_client  # noqa: F401 - fixtures
from tests.personal_space_helpers import ALICE, COMPANY, licence, signed
from tests.strategies import id_numbers, usccs

CLIENT_ID, SECRET = "fuzz", "fuzz-secret-0123456789"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 30  # per operation and mode; with ~50 operations, about a minute on a slow machine
STRANGER_EXAMPLES = 5  # answers 401 before reading much: a few cases show what is documented
MAX_REQUEST_LINE = 8190  # aiohttp's default max_line_size
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
APPLICATION = {"event_id": "fuzz-app-1", "application_no": "SX20261105000123", "query_password": "839201",
               "item_code": "SC-001", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
               "applicant": {"type": "person", "id": CITIZEN["id_number"], "name": CITIZEN["name"]},
               "state": "accepted", "occurred_at": "2026-11-05T10:12:00+08:00", "promised_working_days": 10}


class RunningService:
    """The whole service on 127.0.0.1:<free port>, served from a thread with its own loop."""

    def __init__(self, make_settings, clock):
        self._make_settings, self._clock = make_settings, clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzzed-service", daemon=True)
        self._fake = self._runner = None
        self.base_url = ""

    def _run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start(self) -> None:
        self._fake = await start_fake_wechat()
        settings_ = self._make_settings(demo_data=True, demo_login=True, integration_clients={CLIENT_ID: SECRET},
                                        **self._fake.settings())
        self._runner = web.AppRunner(create_app(settings_, clock=self._clock), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._fake is not None:
            await self._fake.close()

    @property
    def fake(self):
        return self._fake

    def start(self) -> None:
        self._thread.start()
        self._run(self._start())

    def stop(self) -> None:
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


class SignedIntegrationCalls(requests.auth.AuthBase):
    """Signs /integration/ requests as a registered back-office client would, over the exact
    bytes about to be sent, with the service's own clock (it is frozen in these tests)."""

    def __init__(self, clock):
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if urlsplit(request.url).path.startswith(INTEGRATION_PREFIX):
            body = request.body or b""
            body = body.encode() if isinstance(body, str) else body
            timestamp, nonce = str(int(self.clock.now().timestamp())), uuid.uuid4().hex
            request.headers.update({
                "X-Client-Id": CLIENT_ID, "X-Timestamp": timestamp, "X-Nonce": nonce,
                "X-Signature": sign(SECRET, request.method, request.path_url, timestamp, nonce, body)})
        return request


class Caller:
    """Sends the generated requests as the demo citizen and an agent at once."""

    def __init__(self, service: RunningService, clock):
        self.base_url = service.base_url
        self.http = requests.Session()
        self.http.auth = SignedIntegrationCalls(clock)
        token = self.http.post(f"{self.base_url}/api/v1/auth/demo-login").json()["token"]
        self.http.headers.update({"Authorization": f"Bearer {token}", "Cookie": self.console_cookie()})
        # Logging out ends the session it names and unbinding the binding of its caller, so the
        # generated ones name sessions of their own (logged in now: the generated logins with wrong
        # passwords soon use up the address's login budget).
        self.own_headers = {
            "POST /console/api/logout": {"Cookie": self.console_cookie()},
            "POST /api/v1/auth/logout": {"Authorization": f"Bearer {self.citizen_token(service, 'fuzz-logout')}"},
            "DELETE /api/v1/me/binding": {"Authorization": f"Bearer {self.citizen_token(service, 'fuzz-unbind')}"},
        }
        self.statuses: dict[str, set[int]] = {}  # per operation, every status it answered
        self.stranger = requests.Session()
        self.stranger.headers.update({"Authorization": "Bearer ended-long-ago", "Cookie": f"{COOKIE}=ended-long-ago"})

    def console_cookie(self) -> str:
        response = requests.post(f"{self.base_url}/console/api/login",
                                 json={"username": "agent01", "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        return f"{COOKIE}={response.cookies[COOKIE]}"

    def citizen_token(self, service: RunningService, openid: str) -> str:
        """The token of a new citizen logged in through the fake WeChat as `openid` and bound."""
        service.fake.add_code(f"code-{openid}", openid)
        token = self.ok("POST", "/api/v1/auth/login", json={"code": f"code-{openid}"})["token"]
        binding = {"event_id": f"idp-{openid}", "openid": openid, "id_number": "420704199001011231", "name": "李四"}
        assert self.ok("POST", "/integration/v1/identity-bindings", json=binding)["result"] == "applied"
        return token

    def ok(self, method: str, path: str, **kwargs) -> dict | list:
        response = self.http.request(method, f"{self.base_url}{path}", **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def send(self, case, *, stranger: bool = False) -> None:
        """Send the case as the logged-in caller, or (`stranger`) with a session that has ended
        and no signature."""
        # aiohttp's HTTP parser refuses a request line over 8190 bytes itself, in plain text, before
        # the application sees it: a guard of the server, not part of the API, so none is sent.
        sent = case.as_transport_kwargs(base_url=self.base_url)
        path = requests.Request(sent["method"], sent["url"], params=sent.get("params")).prepare().path_url
        assume(len(f"{sent['method']} {path} HTTP/1.1") <= MAX_REQUEST_LINE)
        if stranger:
            case.call_and_validate(session=self.stranger, checks=CHECKS)
            return
        headers = self.own_headers.get(case.operation.label)
        response = case.call_and_validate(session=self.http, headers=headers, checks=CHECKS)
        self.statuses.setdefault(case.operation.label, set()).add(response.status_code)

    def existing_path_parameters(self) -> dict[str, list[dict[str, str]]]:
        """Per operation, path parameters that name things the demo citizen and the agent may see."""
        assert self.ok("POST", "/integration/v1/application-events", json=APPLICATION)["result"] == "applied"
        me = self.ok("GET", "/api/v1/me")
        uscc = me["enterprises"][0]["uscc"]
        documents = [d["id"] for d in self.ok("GET", "/api/v1/me/documents")]
        documents += [d["id"] for d in self.ok("GET", f"/api/v1/enterprises/{uscc}/space")["documents"]]
        code = self.ok("POST", f"/api/v1/me/documents/{documents[0]}/show-code")["code"]
        mine = [t["number"] for t in self.ok("GET", "/api/v1/me/tickets")]
        waiting = [t["number"] for t in self.ok("GET", "/console/api/queues/new")["tickets"]]
        scenarios = [s["id"] for s in self.ok("GET", "/api/v1/scenarios")[:3]]
        items = [i["code"] for i in self.ok("GET", f"/api/v1/scenarios/{scenarios[0]}")["items"][:3]]
        assert documents and mine and waiting and items
        tickets = [{"number": n} for n in mine + waiting]
        application = [{"application_no": APPLICATION["application_no"]}]
        enterprise = [{"uscc": uscc}]
        return {
            "GET /console/api/queues/{name}": [{"name": q} for q in QUEUES],
            "GET /console/api/tickets/{number}": tickets,
            "POST /console/api/tickets/{number}/actions/{action}": [
                {"number": n, "action": a} for n, a in itertools.product(mine + waiting, STAFF_ACTIONS)],
            "GET /api/v1/scenarios/{scenario_id}": [{"scenario_id": s} for s in scenarios],
            "POST /api/v1/scenarios/{scenario_id}/checklist": [{"scenario_id": s} for s in scenarios],
            "GET /api/v1/items/{code}": [{"code": c} for c in items],
            "GET /api/v1/me/documents/{document_id}": [{"document_id": d} for d in documents],
            "POST /api/v1/me/documents/{document_id}/show-code": [{"document_id": d} for d in documents],
            "GET /api/v1/verify/{code}": [{"code": code}],
            "GET /api/v1/enterprises/{uscc}/space": enterprise,
            "POST /api/v1/enterprises/{uscc}/members": enterprise,
            "DELETE /api/v1/enterprises/{uscc}/members": enterprise,
            "GET /api/v1/enterprises/{uscc}/access-log": enterprise,
            "GET /api/v1/applications/{application_no}": application,
            "POST /api/v1/applications/{application_no}/rating": application,
            "GET /api/v1/tickets/{number}": [{"number": n} for n in mine],
            "POST /api/v1/tickets/{number}/rating": [{"number": n} for n in mine],
            "POST /api/v1/tickets/{number}/withdraw": [{"number": n} for n in mine],
            "POST /api/v1/tickets/{number}/supplements": [{"number": n} for n in mine],
        }


@pytest.fixture
def service(make_settings, clock):
    running = RunningService(make_settings, clock)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def caller(service, clock):
    caller = Caller(service, clock)
    yield caller
    caller.http.close()


def _with_valid_identifiers(body, draw) -> None:
    """Give the ID numbers and credit codes of a valid body right check characters."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("id_number"), str):
        body["id_number"] = draw(id_numbers())
    for party in (body.get("holder"), body.get("applicant")):
        if isinstance(party, dict) and party.get("type") in ("person", "enterprise"):
            party["id"] = draw(id_numbers() if party["type"] == "person" else usccs())
    representative = body.get("legal_representative")
    if isinstance(representative, dict) and isinstance(representative.get("id_number"), str):
        representative["id_number"] = draw(id_numbers())


@st.composite
def _cases(draw, operation, mode, path_parameters):
    case = draw(st.one_of([operation.as_strategy(generation_mode=mode, path_parameters=p) for p in path_parameters])
                if path_parameters else operation.as_strategy(generation_mode=mode))
    if mode is POSITIVE:
        _with_valid_identifiers(case.body, draw)
    return case


def _fuzz(caller: Caller, operation, mode, path_parameters: list[dict] | None = None, *,
          stranger: bool = False) -> str | None:
    """Run one operation's generated cases: the first failure found (shrunk), or None."""

    @settings(max_examples=STRANGER_EXAMPLES if stranger else MAX_EXAMPLES, derandomize=True, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=_cases(operation, mode, path_parameters))
    def run(case):
        caller.send(case, stranger=stranger)

    try:
        run()
    except (AssertionError, FailureGroup) as exc:  # every finding is collected and reported together
        pass_ = " (existing)" if path_parameters else " (stranger)" if stranger else ""
        return f"{mode.value} {operation.label}{pass_}: {exc}"
    except Unsatisfiable:
        if mode is POSITIVE:
            raise
        # Nothing to spoil: a path parameter that takes any text cannot be made invalid.
    return None


@pytest.mark.timeout(240)
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(service, caller):
    schema = schemathesis.openapi.from_url(f"{service.base_url}/api/openapi.json",
                                           config=schemathesis.Config.from_dict({"base-url": service.base_url}))
    operations = {(op := result.ok()).label: op for result in schema.get_all_operations()}
    existing = caller.existing_path_parameters()
    assert set(existing) <= set(operations)
    assert len(operations) > 40  # the whole mini-program, console and integration API
    runs = [(op, mode, None) for op in operations.values() for mode in (POSITIVE, NEGATIVE)
            if mode is POSITIVE or op.body or any(True for _ in op.iter_parameters())]
    runs += [(operations[label], POSITIVE, parameters) for label, parameters in existing.items()]
    failures = [failure for op, mode, parameters in runs if (failure := _fuzz(caller, op, mode, parameters))]
    failures += [failure for op in operations.values() if (failure := _fuzz(caller, op, POSITIVE, stranger=True))]
    assert not failures, "\n\n".join(failures)
    # The answers above were the logged-in ones: both sessions held to the end, and every
    # operation got past authentication at least once.
    assert caller.ok("GET", "/api/v1/me")["bound"] is True
    assert caller.ok("GET", "/console/api/me")["username"] == "agent01"
    assert set(caller.statuses) == set(operations)
    assert [label for label, statuses in caller.statuses.items() if statuses <= {401}] == []


# --- what the fuzzing found, pinned -------------------------------------------------------------


async def test_a_nul_character_anywhere_in_the_input_is_refused_with_a_code(hotline_client, desk, clock):
    client = hotline_client
    answers = [
        await client.post("/console/api/login", json={"username": "agent\x0001", "password": "x"}),
        await client.get("/api/v1/guides", params={"q": "开饭店\x00"}),
        await client.get("/api/v1/scenarios/open-restaurant%00"),
        await desk.post("agent01", "/tickets", {"type": "投诉", "content": "路灯\x00不亮", "contact_phone": "13912345678"}),
        await signed(client, "/integration/v1/identity-bindings",
                     {"event_id": "nul-1", "openid": "o-1", "id_number": ALICE["id_number"], "name": "张\x00三"},
                     now=clock.now().timestamp()),
    ]
    for response in answers:
        assert (response.status, (await response.json())["error"]["code"]) == (400, "invalid_character")
    assert (await (await desk.get("agent01", "/queues/new")).json())["tickets"] == []  # nothing was written


async def test_numbers_beyond_what_the_database_holds_are_refused_as_input(hotline_client, desk, clock):
    too_big = 2**31
    assert (await desk.get("agent01", f"/supervisions?after={too_big}")).status == 400
    assert (await desk.post("agent01", f"/handoffs/{too_big}/close")).status == 400
    refused = await signed(hotline_client, "/integration/v1/licences", licence(ALICE, version=too_big),
                           now=clock.now().timestamp())
    assert (refused.status, (await refused.json())["error"]["code"]) == (400, "invalid_input")
    largest = await signed(hotline_client, "/integration/v1/licences", licence(ALICE, version=too_big - 1),
                           now=clock.now().timestamp())
    assert largest.status == 200 and (await largest.json())["result"] == "applied"


async def test_an_application_event_the_calendar_cannot_count_is_refused_and_its_event_id_stays_unused(
        hotline_client, clock):
    beyond = {**APPLICATION, "event_id": "far-1", "occurred_at": "2099-12-30T10:00:00+08:00"}  # due in 2100
    for occurred_at in (beyond["occurred_at"], "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00"):
        refused = await signed(hotline_client, "/integration/v1/application-events",
                               {**beyond, "occurred_at": occurred_at}, now=clock.now().timestamp())
        assert (refused.status, (await refused.json())["error"]["code"]) == (400, "date_out_of_range")
    corrected = await signed(hotline_client, "/integration/v1/application-events", {**beyond, **{
        "occurred_at": APPLICATION["occurred_at"]}}, now=clock.now().timestamp())
    assert corrected.status == 200 and (await corrected.json())["result"] == "applied"


async def test_a_person_named_longer_than_a_person_record_holds_is_refused_an_enterprise_is_not(
        hotline_client, clock):
    person = {**APPLICATION, "event_id": "long-1", "applicant": {**APPLICATION["applicant"], "name": "张" * 65}}
    refused = await signed(hotline_client, "/integration/v1/application-events", person, now=clock.now().timestamp())
    assert (refused.status, (await refused.json())["error"]["code"]) == (400, "invalid_input")
    enterprise = {**APPLICATION, "event_id": "long-2", "application_no": "SX20261105000124",
                  "applicant": {**COMPANY, "name": "某" * 65}}
    applied = await signed(hotline_client, "/integration/v1/application-events", enterprise,
                           now=clock.now().timestamp())
    assert applied.status == 200, await applied.text()


async def test_the_document_requires_the_bodies_the_service_requires_and_lists_every_refusal(client):
    spec = await (await client.get("/api/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                assert operation["requestBody"]["required"] is True, (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "400" in responses, (method, path)  # malformed input, refused before any handler
            if method == "post" and path.startswith("/console/api/"):
                assert "requestBody" in operation and "415" in responses, path  # the console takes only JSON


async def test_kpis_since_a_date_before_2000_are_refused_rather_than_failing(desk):
    refused = await desk.get("super01", "/kpis?since=0001-01-01")
    assert (refused.status, (await refused.json())["error"]["code"]) == (400, "invalid_input")
    assert (await desk.get("super01", "/kpis?since=2000-01-01")).status == 200


async def test_a_page_cursor_not_made_by_the_service_is_refused_rather_than_failing(desk):
    numbers = {(await desk.call())["number"], (await desk.call())["number"]}
    first = await (await desk.get("agent01", "/queues/new?limit=1")).json()
    second = await (await desk.get("agent01", f"/queues/new?limit=1&after={first['next']}")).json()
    assert {t["number"] for t in first["tickets"] + second["tickets"]} == numbers  # the service's own cursor
    for moment in ("2026-11-18T09:30:00", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00"):
        forged = base64.urlsafe_b64encode(f"{moment}|GD20261118000001".encode()).decode()
        refused = await desk.get("agent01", f"/queues/new?after={forged}")
        assert (refused.status, (await refused.json())["error"]["code"]) == (400, "invalid_cursor")
