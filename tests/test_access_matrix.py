"""Who may call what: the access rule of every route the service serves, checked over HTTP.

`RULES` names the rule of each route of the app's router; a route added without a rule here (or
a rule left for a route that is gone) fails the first test. The others drive every route as
each kind of caller: nobody, the owner, another citizen, an unbound WeChat user, enterprise
members with live, expired and revoked grants, each console role, and the wrong kind of
credential. A resource that is not the caller's answers exactly like one that does not exist
(PRODUCT.md §5), and no answer to a caller who may not see Alice's data carries her name or
numbers, whole or masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from core.db import transaction
from core.settings import load_settings
from hotline import handoffs
from hotline.pages import STATIC
from server import create_app
from tests.hotline_helpers import STAFF, Desk, add_staff, file_ticket
from tests.personal_space_helpers import ALICE, BOB, CAROL, COMPANY, SECRETS, citizen, event_id, licence, login, signed

DAVE = {"id_number": "420704198507150015", "name": "赵六", "phone": "13600136000"}
WEBHOOK_TOKEN = "matrix-webhook-token"
METRICS_TOKEN = "matrix-metrics-token-0123456789"
APPLICATION, COMPANY_APPLICATION = "SX20261105000123", "SX20261105000124"
MISSING = {"document_id": "0" * 32, "application_no": "SX20261105999999", "number": "GD20261118999999",
           "uscc": "91110000100000000B", "handoff_id": "999999"}


@dataclass(frozen=True)
class Rule:
    who: str  # who may call the route
    anonymous: int  # the status a caller without credentials gets
    code: str | None = None  # and its error code


def public(status: int = 200) -> Rule:
    return Rule("public", status)


CITIZEN = Rule("citizen: the caller's own data", 401, "unauthenticated")
MEMBER = Rule("enterprise: legal representative, or an agent with a live grant", 401, "unauthenticated")
LEGAL_REP = Rule("enterprise: legal representative only", 401, "unauthenticated")
# Routes that end something of the caller's own (the session, the binding): refused without a
# session like the others, but not walked by Alice below (tests/test_privacy_rights.py has them).
OWN_SESSION = Rule("any session: ends the caller's own", 401, "unauthenticated")
OWN_BINDING = Rule("citizen: undoes the caller's own binding", 401, "unauthenticated")
OWNER_OR_PASSWORD = Rule("the owner, or anyone with the query password", 404, "application_not_found")
STAFF_ANY = Rule("console: any staff role", 401, "unauthenticated")
STAFF_ROLES = Rule("console: the roles in CONSOLE", 401, "unauthenticated")
INTEGRATION = Rule("integration: signed by a registered client", 401, "signature_missing")
WECHAT = Rule("wechat: signed with the official account's token", 403, "wechat_signature_invalid")
METRICS = Rule("METRICS_TOKEN as a bearer token (or, without one, this host only)", 401)

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): public(), ("HEAD", "/healthz"): public(),
    ("GET", "/readyz"): public(), ("HEAD", "/readyz"): public(),
    ("GET", "/metrics"): METRICS,
    ("GET", "/api/openapi.json"): public(), ("GET", "/api/docs"): public(),
    ("GET", "/api/v1/calendar/deadline"): public(),
    ("GET", "/api/v1/guides"): public(),
    ("GET", "/api/v1/scenarios"): public(),
    ("GET", "/api/v1/scenarios/{scenario_id}"): public(),
    ("POST", "/api/v1/scenarios/{scenario_id}/checklist"): public(),  # a bearer token adds what the caller holds
    ("GET", "/api/v1/items/{code}"): public(),
    ("POST", "/api/v1/nlu/parse"): public(),
    ("POST", "/api/v1/auth/login"): public(400),  # a wx.login code WeChat does not know
    ("POST", "/api/v1/auth/demo-login"): public(404),  # only with DEMO_LOGIN
    ("POST", "/api/v1/auth/logout"): OWN_SESSION,
    ("DELETE", "/api/v1/me/binding"): OWN_BINDING,
    ("GET", "/api/v1/verify/{code}"): public(),  # the 亮证 code is the credential; the holder is masked
    # the citizen's own; in this order, so that each step finds its resource in the state it needs
    ("GET", "/api/v1/me"): CITIZEN,
    ("GET", "/api/v1/me/documents"): CITIZEN,
    ("GET", "/api/v1/me/documents/{document_id}"): CITIZEN,
    ("POST", "/api/v1/me/documents/{document_id}/show-code"): CITIZEN,
    ("GET", "/api/v1/me/reminders"): CITIZEN,
    ("GET", "/api/v1/me/access-log"): CITIZEN,
    ("GET", "/api/v1/me/export"): CITIZEN,
    ("GET", "/api/v1/me/applications"): CITIZEN,
    ("GET", "/api/v1/applications/{application_no}"): OWNER_OR_PASSWORD,
    ("POST", "/api/v1/applications/{application_no}/rating"): CITIZEN,
    ("POST", "/api/v1/tickets"): CITIZEN,
    ("GET", "/api/v1/me/tickets"): CITIZEN,
    ("GET", "/api/v1/tickets/{number}"): CITIZEN,
    ("POST", "/api/v1/tickets/{number}/supplements"): CITIZEN,
    ("POST", "/api/v1/tickets/{number}/rating"): CITIZEN,
    ("POST", "/api/v1/tickets/{number}/withdraw"): CITIZEN,
    ("GET", "/api/v1/enterprises/{uscc}/space"): MEMBER,
    ("GET", "/api/v1/enterprises/{uscc}/access-log"): LEGAL_REP,
    ("POST", "/api/v1/enterprises/{uscc}/members"): LEGAL_REP,
    ("DELETE", "/api/v1/enterprises/{uscc}/members"): LEGAL_REP,
    ("POST", "/integration/v1/identity-bindings"): INTEGRATION,
    ("POST", "/integration/v1/licences"): INTEGRATION,
    ("POST", "/integration/v1/application-events"): INTEGRATION,
    ("GET", "/wechat"): WECHAT, ("POST", "/wechat"): WECHAT,
    ("GET", "/console"): public(302), ("GET", "/console/"): public(),
    ("GET", "/console/static/{name}"): public(),
    ("POST", "/console/api/login"): public(401),  # a wrong password
    ("POST", "/console/api/logout"): public(),
    ("GET", "/console/api/me"): STAFF_ANY,
    ("GET", "/console/api/meta"): STAFF_ANY,
    ("GET", "/console/api/queues/{name}"): STAFF_ROLES,
    ("GET", "/console/api/search"): STAFF_ROLES,
    ("POST", "/console/api/tickets"): STAFF_ROLES,
    ("GET", "/console/api/tickets/{number}"): STAFF_ROLES,
    ("POST", "/console/api/tickets/{number}/actions/{action}"): STAFF_ROLES,
    ("GET", "/console/api/supervisions"): STAFF_ROLES,
    ("GET", "/console/api/kpis"): STAFF_ROLES,
    ("GET", "/console/api/handoffs"): STAFF_ROLES,
    ("POST", "/console/api/handoffs/{handoff_id}/reply"): STAFF_ROLES,
    ("POST", "/console/api/handoffs/{handoff_id}/close"): STAFF_ROLES,
}

# What each console role gets: agent, supervisor, the lead department (cgj), an assisting one
# (zjj), another (jtj); for one of Alice's tickets dispatched to cgj with zjj assisting.
ROLES = ("agent01", "super01", "dept-cgj", "dept-zjj", "dept-jtj")
CONSOLE: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/console/api/me"): (200, 200, 200, 200, 200),
    ("GET", "/console/api/meta"): (200, 200, 200, 200, 200),
    ("GET", "/console/api/queues/{name}"): (200, 200, 403, 403, 403),  # the "new" queue: the hotline's own
    ("GET", "/console/api/search"): (200, 200, 200, 200, 200),  # what each finds: below
    ("POST", "/console/api/tickets"): (201, 403, 403, 403, 403),
    ("GET", "/console/api/tickets/{number}"): (200, 200, 200, 200, 404),
    ("POST", "/console/api/tickets/{number}/actions/{action}"): (403, 403, 403, 200, 404),  # 协办意见
    ("GET", "/console/api/supervisions"): (200, 200, 200, 200, 200),
    ("GET", "/console/api/kpis"): (200, 200, 403, 403, 403),
    ("GET", "/console/api/handoffs"): (200, 403, 403, 403, 403),
    ("POST", "/console/api/handoffs/{handoff_id}/reply"): (200, 403, 403, 403, 403),
    ("POST", "/console/api/handoffs/{handoff_id}/close"): (200, 403, 403, 403, 403),
}

BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/v1/scenarios/{scenario_id}/checklist"): {"answers": {}},
    ("POST", "/api/v1/nlu/parse"): {"text": "我要开饭店"},
    ("POST", "/api/v1/auth/login"): {"code": "a-code-wechat-never-issued"},
    ("POST", "/api/v1/applications/{application_no}/rating"): {"level": "满意"},
    ("POST", "/api/v1/tickets"): {"type": "投诉", "content": "小区门口井盖缺失，夜里很危险"},
    ("POST", "/api/v1/tickets/{number}/supplements"): {"text": "补充：井盖在东门"},
    ("POST", "/api/v1/tickets/{number}/rating"): {"level": "满意"},
    ("POST", "/api/v1/tickets/{number}/withdraw"): {"text": "已自行解决"},
    ("POST", "/api/v1/enterprises/{uscc}/members"): {"id_number": DAVE["id_number"], "name": DAVE["name"],
                                                     "valid_until": "2026-12-31"},
    ("POST", "/integration/v1/identity-bindings"): {"event_id": "idp-x", "openid": "o-x", **BOB},
    ("POST", "/integration/v1/licences"): licence(BOB),
    ("POST", "/integration/v1/application-events"): {"event_id": "app-x"},
    ("POST", "/console/api/login"): {"username": "agent01", "password": "not-the-password"},
    ("POST", "/console/api/logout"): {},
    ("POST", "/console/api/tickets"): {"type": "咨询", "content": "来电咨询居住证办理", "contact_phone": "13512345678"},
    ("POST", "/console/api/tickets/{number}/actions/{action}"): {"note": "协办单位意见"},
    ("POST", "/console/api/handoffs/{handoff_id}/reply"): {"text": "您好，我是12345话务员。"},
    ("POST", "/console/api/handoffs/{handoff_id}/close"): {},
}
QUERIES: dict[tuple[str, str], dict] = {
    ("GET", "/api/v1/calendar/deadline"): {"from": "2026-11-18", "working_days": "5"},
    ("GET", "/api/v1/guides"): {"q": "开饭店"},
    ("DELETE", "/api/v1/enterprises/{uscc}/members"): {"id_number": CAROL["id_number"]},
    ("GET", "/console/api/search"): {"q": ALICE["phone"]},
}


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info()
        found.add((route.method, info.get("path") or info.get("formatter")))
    return found


def _has_params(path: str) -> bool:
    return "{" in path


# ── the table itself ──

def test_every_route_of_the_service_has_an_access_rule_here():
    settings = load_settings(database_url="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0")
    routes = _routes(create_app(settings))  # nothing is started: no I/O
    assert sorted(routes - set(RULES)) == [], "routes without an access rule in RULES"
    assert sorted(set(RULES) - routes) == [], "rules for routes the service no longer serves"
    staff_routes = {route for route, rule in RULES.items() if rule is STAFF_ROLES}
    assert staff_routes <= set(CONSOLE), "console routes without a row in CONSOLE"


# ── the world every check runs in ──

@dataclass
class World:
    client: object
    desk: Desk
    clock: object
    people: dict[str, dict] = field(default_factory=dict)  # who → request headers
    values: dict[str, str] = field(default_factory=dict)  # path parameter → Alice's resource
    ticket_contents: list[str] = field(default_factory=list)

    def path(self, template: str, target: str = "alice") -> str:
        values = {"scenario_id": "open-restaurant", "action": "assist_note",
                  "code": "GA-001" if template.startswith("/api/v1/items") else self.values["show_code"],
                  "name": "new" if template.startswith("/console/api/queues") else self.values["static"]}
        values |= MISSING if target == "missing" else self.values
        if template == "/api/v1/tickets/{number}/rating" and target == "alice":
            values["number"] = self.values["replied_ticket"]
        return template.format(**values)

    async def call(self, method: str, template: str, who: str | None = None, *, target: str = "alice",
                   headers: dict | None = None):
        """Call a route as `who` (a person, a staff username, or None for nobody)."""
        if headers is None:
            headers = {}
            if who in self.people:
                headers = self.people[who]
            elif who is not None:
                headers = self.desk._headers(who)
        response = await self.client.request(method, self.path(template, target), headers=headers,
                                             json=BODIES.get((method, template)),
                                             params=QUERIES.get((method, template)), allow_redirects=False)
        return response, await response.text()

    def marks(self) -> list[str]:
        """What must not reach anyone who may not see Alice's data."""
        return [ALICE["name"], ALICE["id_number"], ALICE["phone"], "110105********002X", "138****8000",
                *self.ticket_contents, self.values["document_number"]]


def reveals(body: str, marks: list[str]) -> list[str]:
    return [mark for mark in marks if mark in body]


@pytest.fixture
async def world(aiohttp_client, make_settings, clock, fake_wechat) -> World:
    """Alice (legal representative of COMPANY) with a licence, an application, two tickets (one
    dispatched to cgj with zjj assisting, one answered) and a handed-over chat; Carol an agent of
    COMPANY until 20 November; Dave an agent whose grant was revoked; Bob a stranger; a WeChat
    user who never bound; console staff of every role, logged in."""
    settings = make_settings(integration_clients=SECRETS, wechat_token=WEBHOOK_TOKEN, metrics_token=METRICS_TOKEN,
                             **fake_wechat.settings())
    client = await aiohttp_client(create_app(settings, clock=clock))
    app = client.server.app
    for username, (role, department) in STAFF.items():
        await add_staff(app, username, role, department)
    desk = Desk(client)
    for username in ROLES:
        assert (await desk.login(username)).status == 200
    world = World(client, desk, clock)

    async def push(path, body, **kwargs):
        response = await signed(client, path, body, now=clock.now().timestamp(), **kwargs)
        assert response.status == 200, await response.text()
        return response

    for key, openid, who in (("alice", "openid-alice", ALICE), ("bob", "openid-bob", BOB),
                             ("carol", "openid-carol", CAROL), ("dave", "openid-dave", DAVE)):
        world.people[key] = await citizen(client, fake_wechat, push, openid, who)
    world.people["unbound"] = {"Authorization": (await login(client, fake_wechat, "openid-unbound"))["Authorization"]}
    alice = world.people["alice"]

    await push("/integration/v1/licences", licence(ALICE, "机动车驾驶证", valid_until="2030-01-01"))
    await push("/integration/v1/licences", licence(COMPANY, "食品经营许可证", legal_representative={
        "id_number": ALICE["id_number"], "name": ALICE["name"]}))
    for number, applicant in ((APPLICATION, {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]}),
                              (COMPANY_APPLICATION, COMPANY)):
        await push("/integration/v1/application-events", {
            "event_id": event_id("app"), "application_no": number, "query_password": "839201",
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": applicant, "state": "approved", "occurred_at": "2026-11-05T10:12:00+08:00"})
    [document] = await (await client.get("/api/v1/me/documents", headers=alice)).json()
    space = await (await client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=alice)).json()
    [company_document] = space["documents"]
    for agent, until in ((CAROL, "2026-11-20"), (DAVE, "2026-12-31")):
        granted = await client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                    json={"id_number": agent["id_number"], "name": agent["name"], "valid_until": until})
        assert granted.status == 201
    revoked = await client.delete(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                  params={"id_number": DAVE["id_number"]})
    assert revoked.status == 200
    code = (await (await client.post(f"/api/v1/me/documents/{document['id']}/show-code", headers=alice)).json())["code"]

    dispatched = await file_ticket(client, alice, content="楼下烧烤店油烟和噪音扰民到深夜，已持续一个月。")
    await desk.ok("agent01", dispatched["number"], "dispatch", department="cgj", assist_departments=["zjj"])
    replied = await file_ticket(client, alice, content="滨江路人行道上的共享单车堆放阻塞盲道。")
    await desk.ok("agent01", replied["number"], "dispatch", department="cgj")
    await desk.ok("dept-cgj", replied["number"], "sign")
    await desk.ok("dept-cgj", replied["number"], "reply", reply="已清理并安排每日巡查。")
    async with transaction(app) as session:
        handoff = await handoffs.open_handoff(session, "openid-alice", [
            {"at": clock.now().isoformat(), "from": "user", "text": "我要找人工"}], clock.now())

    world.values = {"document_id": document["id"], "document_number": document["number"],
                    "company_document_id": company_document["id"], "application_no": APPLICATION,
                    "number": dispatched["number"], "replied_ticket": replied["number"], "uscc": COMPANY["id"],
                    "handoff_id": str(handoff.id), "show_code": code,
                    "static": next(p.name for p in sorted(STATIC.iterdir()) if p.suffix in (".js", ".css"))}
    world.ticket_contents = [dispatched["content"], replied["content"]]
    return world


# ── nobody ──

async def test_without_credentials_every_route_answers_as_its_rule_says_and_reveals_nothing(world):
    wrong = []
    for (method, template), rule in RULES.items():
        response, body = await world.call(method, template)
        code = (await response.json())["error"]["code"] if rule.code else None
        if (response.status, code) != (rule.anonymous, rule.code):
            wrong.append(f"{method} {template}: {response.status} {code}, expected {rule.anonymous} {rule.code}")
        full = [ALICE["id_number"], ALICE["phone"], ALICE["name"], *world.ticket_contents]
        if reveals(body, full):
            wrong.append(f"{method} {template} shows {reveals(body, full)}")
    assert wrong == []
    # the 亮证 check shows the holder to the clerk, masked
    verified = await (await world.client.get(f"/api/v1/verify/{world.values['show_code']}")).json()
    assert (verified["holder_name"], verified["holder_id"]) == ("张*", "110105********002X")


# ── the owner and the others ──

def _citizen_routes(*rules: Rule) -> list[tuple[str, str]]:
    return [route for route, rule in RULES.items() if rule in rules]


async def test_alice_reaches_every_route_of_her_own_data(world):
    refused = []
    for method, template in _citizen_routes(CITIZEN, OWNER_OR_PASSWORD, MEMBER, LEGAL_REP):
        response, body = await world.call(method, template, "alice")
        if response.status >= 300:
            refused.append(f"{method} {template}: {response.status} {body[:200]}")
    assert refused == []
    document = await (await world.client.get(f"/api/v1/me/documents/{world.values['document_id']}",
                                             headers=world.people["alice"])).json()
    assert document["number"] == world.values["document_number"]


@pytest.mark.parametrize("stranger", ["bob", "unbound"])
async def test_another_citizen_gets_404_for_each_of_alices_resources_exactly_as_for_a_missing_one(world, stranger):
    wrong = []
    for method, template in _citizen_routes(CITIZEN, OWNER_OR_PASSWORD, MEMBER, LEGAL_REP):
        response, body = await world.call(method, template, stranger)
        if reveals(body, world.marks()):
            wrong.append(f"{method} {template} shows {reveals(body, world.marks())}")
        if not _has_params(template):
            continue  # the caller's own lists: checked above for Alice's data
        missing, missing_body = await world.call(method, template, stranger, target="missing")
        if response.status != 404 or (response.status, body) != (missing.status, missing_body):
            wrong.append(f"{method} {template}: {response.status} {body[:120]} vs missing {missing.status}")
    assert wrong == []
    # and nothing of Alice's changed: her tickets are where they were, Carol's grant stands, her
    # application is still hers to rate
    alice = world.people["alice"]
    mine = {t["number"]: (t["state"], t["rating"]) for t in await (await world.client.get(
        "/api/v1/me/tickets", headers=alice)).json()}
    assert mine == {world.values["number"]: ("dispatched", None), world.values["replied_ticket"]: ("replied", None)}
    space = await world.client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=world.people["carol"])
    assert space.status == 200 and (await space.json())["my_role"] == "agent"
    rated = await world.client.post(f"/api/v1/applications/{APPLICATION}/rating", json={"level": "满意"}, headers=alice)
    assert rated.status == 201


# ── the enterprise space ──

ENTERPRISE_READS = [("GET", "/api/v1/enterprises/{uscc}/space"), ("GET", "/api/v1/me/documents/{company_document_id}"),
                    ("POST", "/api/v1/me/documents/{company_document_id}/show-code")]


async def _enterprise_view(world: World, who: str) -> dict[str, int]:
    """What `who` gets from each route that shows the enterprise's data."""
    seen = {}
    for method, template in ENTERPRISE_READS:
        path = template.format(uscc=COMPANY["id"], company_document_id=world.values["company_document_id"])
        response = await world.client.request(method, path, headers=world.people[who])
        seen[f"{method} {template}"] = response.status
        if response.status >= 300:
            assert COMPANY["name"] not in await response.text()
    for method, template in _citizen_routes(LEGAL_REP):
        response, body = await world.call(method, template, who)
        seen[f"{method} {template}"] = response.status
        if response.status >= 300:
            assert reveals(body, [COMPANY["name"], *world.marks()]) == []
    listed = await (await world.client.get("/api/v1/me/applications", headers=world.people[who])).json()
    seen["company application listed"] = int(COMPANY_APPLICATION in [a["application_no"] for a in listed])
    checklist = await world.client.post("/api/v1/scenarios/open-restaurant/checklist", headers=world.people[who],
                                        json={"answers": {}, "enterprise": COMPANY["id"]})
    seen["checklist for the enterprise"] = checklist.status
    return seen


async def test_the_enterprise_space_follows_the_grant(world):
    member = {"POST /api/v1/me/documents/{company_document_id}/show-code": 201}
    reads_ok = {f"{m} {t}": member.get(f"{m} {t}", 200) for m, t in ENTERPRISE_READS}
    legal_rep_only = {f"{m} {t}": 404 for m, t in _citizen_routes(LEGAL_REP)}
    outsider = {**{k: 404 for k in reads_ok}, **legal_rep_only, "company application listed": 0,
                "checklist for the enterprise": 404}
    agent = {**reads_ok, **legal_rep_only, "company application listed": 1, "checklist for the enterprise": 200}
    assert await _enterprise_view(world, "carol") == agent  # a live grant: the space, not its administration
    assert await _enterprise_view(world, "dave") == outsider  # revoked
    assert await _enterprise_view(world, "bob") == outsider  # never granted
    # the refused grant attempts (Carol granting Dave, revoking herself…) left no trace
    space = await (await world.client.get(f"/api/v1/enterprises/{COMPANY['id']}/space",
                                          headers=world.people["alice"])).json()
    assert [(m["name"], m["role"]) for m in space["members"] if m["role"] == "agent"] == [(CAROL["name"], "agent")]
    world.clock.advance(timedelta(days=3))  # 21 November: Carol's grant ended on the 20th
    assert await _enterprise_view(world, "carol") == outsider
    log = await (await world.client.get(f"/api/v1/enterprises/{COMPANY['id']}/access-log",
                                        headers=world.people["alice"])).json()
    assert {entry["reader"].split("（")[0] for entry in log if entry["reader_type"] == "enterprise_member"} == {
        CAROL["name"], ALICE["name"]}  # every member read is in the enterprise's log; the refused ones are not


# ── the console ──

async def test_each_console_role_gets_what_its_role_may(world):
    wrong = []
    for (method, template), expected in CONSOLE.items():
        for username, status in reversed(list(zip(ROLES, expected))):  # the agent, who changes things, last
            response, body = await world.call(method, template, username)
            if response.status != status:
                wrong.append(f"{username} {method} {template}: {response.status}, expected {status} {body[:120]}")
            if status == 404:
                missing, missing_body = await world.call(method, template, username, target="missing")
                if (missing.status, missing_body) != (response.status, body):
                    wrong.append(f"{username} {method} {template}: unlike a missing ticket")
            if response.status >= 400 and reveals(body, world.marks()):
                wrong.append(f"{username} {method} {template} shows {reveals(body, world.marks())}")
    assert wrong == []


async def test_a_department_finds_only_the_tickets_it_leads_and_opens_those_it_assists(world):
    number = world.values["number"]

    async def listed(username: str, path: str) -> list[str]:
        response = await world.desk.get(username, path)
        assert response.status == 200, await response.text()
        return [t["number"] for t in (await response.json())["tickets"]]

    by_phone, by_number, queue = f"/search?q={ALICE['phone']}", f"/search?q={number}", "/queues/department"
    assert number in await listed("agent01", by_phone) and number in await listed("super01", by_number)
    assert number in await listed("dept-cgj", by_phone) and number in await listed("dept-cgj", queue)
    for other in ("dept-zjj", "dept-jtj"):  # the assisting department opens it (above), but lists only its own
        assert number not in await listed(other, by_phone) + await listed(other, by_number) + await listed(other, queue)
    assert (await world.desk.get("dept-jtj", f"/tickets/{number}")).status == 404
    # every staff read of Alice's ticket is in her access log, one entry per read; Bob's stays empty
    async def staff_reads() -> list[str]:
        log = await (await world.client.get("/api/v1/me/access-log", headers=world.people["alice"])).json()
        return [entry["reader"] for entry in log if entry["reader_type"] == "staff"]

    before = await staff_reads()
    for username in ("agent01", "dept-cgj", "dept-zjj"):
        await world.desk.ticket(username, number)
    after = await staff_reads()
    new_reads = after[:len(after) - len(before)]  # newest first
    assert len(new_reads) == 3
    assert all(any(username in reader for reader in new_reads) for username in ("agent01", "dept-cgj", "dept-zjj"))
    assert await (await world.client.get("/api/v1/me/access-log", headers=world.people["bob"])).json() == []


# ── the wrong kind of credential ──

async def test_citizen_routes_refuse_staff_cookies_and_console_routes_refuse_citizen_tokens(world):
    wrong = []
    cookie = world.desk._headers("agent01")
    for (method, template), rule in RULES.items():
        if rule in (CITIZEN, MEMBER, LEGAL_REP, OWN_SESSION, OWN_BINDING):
            presented = cookie
        elif rule in (STAFF_ANY, STAFF_ROLES, INTEGRATION, METRICS):
            presented = world.people["alice"]
        else:
            continue
        response, body = await world.call(method, template, headers=presented)
        if response.status != 401:
            wrong.append(f"{method} {template}: {response.status} {body[:120]}")
    assert wrong == []
    with_token = await world.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert with_token.status == 200 and not reveals(await with_token.text(), world.marks())

