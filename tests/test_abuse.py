"""Abuse, driven over HTTP as an attacker would: guessing console passwords from one address
across many accounts, guessing query passwords in both channels, replaying captured webhook and
integration requests, and personal data or credentials leaking into the logs.

What other files already cover is not repeated here (SECURITY.md lists every test by claim):
the lockout of one account (test_hotline_console), the webhook's refusals and retries
(test_bot_webhook), forged integration signatures and re-signed nonces (test_personal_space),
guessing one number's password in the mini-program and the budget shared with the chat
(test_applications, test_bot_dialogue).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot import webhook
from bot.signing import Credentials, text_message
from core import keys
from core.db import transaction
from core.identity import InvalidIdentifier, validate_id_number
from core.integration import NONCE_KEY, WINDOW_SECONDS, IntegrationEvent
from core.logs import configure_logging
from core.outbox import run_once
from core.settings import SettingsError, load_settings
from hotline.models import Handoff, Staff
from personal_space import people
from personal_space.models import Person
from server import create_app
from tests.hotline_helpers import (  # noqa: F401 - fixtures
    PASSWORD, Desk, add_staff, alice, as_citizen, file_ticket, hotline_client,
)
from tests.bot_helpers import ACCOUNT, User, WeChat, bot, safe  # noqa: F401 - bot and safe are fixtures
from tests.identity_numbers import id_check_char
from tests.personal_space_helpers import (  # noqa: F401 - app_client is a fixture
    ALICE, BOB, CAROL, COMPANY, ELIC, IDP, SECRETS, app_client, bind, event_id, licence, login, signed, signed_request,
    signer,
)
from tests.row_counts import count_rows, snapshot, table_counts

OTHER_ADDRESS = "127.0.0.2"  # loopback too: requests from it reach the test server as another client


@contextlib.asynccontextmanager
async def from_address(address: str = OTHER_ADDRESS):
    """An HTTP session whose connections leave from `address`: the service sees another client."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as http:
        yield http


async def _error_code(response) -> str:
    return (await response.json())["error"]["code"]


# ── console login ──

async def test_one_address_failing_across_many_accounts_is_stopped_while_other_addresses_log_in(hotline_client):
    """Spraying one password over many usernames locks no account (each fails once), so the
    address's own budget is what stops it: 30 failures, then even a right password is refused
    from there, while the same account still logs in from elsewhere."""
    login_url = hotline_client.make_url("/console/api/login")
    for attempt in range(30):
        response = await hotline_client.post("/console/api/login",
                                             json={"username": f"guess{attempt:02d}", "password": "123456"})
        assert response.status == 401 and await _error_code(response) == "login_failed"
    blocked = await hotline_client.post("/console/api/login", json={"username": "agent01", "password": PASSWORD})
    assert blocked.status == 429 and await _error_code(blocked) == "login_rate_limited"
    assert "console_session" not in blocked.cookies
    async with from_address() as http:
        elsewhere = await http.post(login_url, json={"username": "agent01", "password": PASSWORD})
        assert elsewhere.status == 200 and "console_session" in elsewhere.cookies
        once = await http.post(login_url, json={"username": "guess00", "password": "123456"})
        assert once.status == 401  # no username was locked: each had failed once


async def test_console_passwords_are_kept_only_as_argon2id_hashes(hotline_client):
    async with transaction(hotline_client.server.app) as session:
        stored = list(await session.scalars(select(Staff.password_hash)))
    assert stored and all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)


async def test_five_failures_lock_a_username_at_their_address_and_twenty_lock_it_everywhere(hotline_client):
    """Whoever types five wrong passwords for an account cannot lock its owner out from another
    address; guessing spread over many addresses is stopped by the username's own count."""
    login_url = hotline_client.make_url("/console/api/login")
    wrong, right = {"username": "dept-cgj", "password": "wrong-password"}, {"username": "dept-cgj", "password": PASSWORD}
    for _ in range(4):
        assert (await hotline_client.post("/console/api/login", json=wrong)).status == 401
    fifth = await hotline_client.post("/console/api/login", json=wrong)
    assert fifth.status == 423 and await _error_code(fifth) == "account_locked"
    assert (await hotline_client.post("/console/api/login", json=right)).status == 423  # locked here
    async with from_address() as http:
        owner = await http.post(login_url, json=right)
        assert owner.status == 200 and "console_session" in owner.cookies
    answers = []  # 5 + 15 failures, fewer than five from each address: the twentieth locks it
    for address, tries in (("127.0.0.3", 4), ("127.0.0.4", 4), ("127.0.0.5", 4), ("127.0.0.6", 3)):
        async with from_address(address) as http:
            answers += [(await http.post(login_url, json=wrong)).status for _ in range(tries)]
    assert answers == [401] * 14 + [423]
    async with from_address("127.0.0.7") as http:  # a new address, the right password: still refused
        everywhere = await http.post(login_url, json=right)
        assert everywhere.status == 423 and "console_session" not in everywhere.cookies
    other = await hotline_client.post("/console/api/login", json={"username": "agent01", "password": PASSWORD})
    assert other.status == 200  # five failures from this address are far from its own budget


async def test_logins_sent_at_once_are_counted_before_their_passwords_are_checked(hotline_client):
    """Thirty wrong passwords sent together from one address: four are checked and answered
    401, the fifth locks the username there, the rest are refused unchecked, and none of it
    counts towards locking the owner out elsewhere."""
    wrong = {"username": "dept-cgj", "password": "wrong-password"}
    answers = await asyncio.gather(*(hotline_client.post("/console/api/login", json=wrong) for _ in range(30)))
    assert sorted(response.status for response in answers) == [401] * 4 + [423] * 26
    async with from_address() as http:
        owner = await http.post(hotline_client.make_url("/console/api/login"),
                                json={"username": "dept-cgj", "password": PASSWORD})
        assert owner.status == 200


# ── query passwords (查询密码) ──

NUMBER = "SX20261105000123"


async def _push_application(client, clock, number: str = NUMBER, password: str = "839201") -> None:
    body = {"event_id": event_id("app"), "application_no": number, "query_password": password,
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
            "state": "accepted", "occurred_at": "2026-11-05T10:12:00+08:00", "promised_working_days": 10}
    response = await signed(client, "/integration/v1/application-events", body, now=clock.now().timestamp())
    assert response.status == 200, await response.text()


async def test_password_guesses_sent_at_once_get_no_more_tries_than_one_after_another(hotline_client, clock):
    await _push_application(hotline_client, clock)
    guesses = await asyncio.gather(*(hotline_client.get(f"/api/v1/applications/{NUMBER}",
                                                        params={"password": f"{n:06d}"}) for n in range(40)))
    assert sorted(response.status for response in guesses) == [404] * 10 + [429] * 30
    async with from_address() as http:  # the number's own budget is spent too
        elsewhere = await http.get(hotline_client.make_url(f"/api/v1/applications/{NUMBER}"),
                                   params={"password": "839201"})
        assert elsewhere.status == 429


async def test_one_address_guessing_across_many_numbers_is_stopped_by_its_own_budget(hotline_client, alice, clock):
    await _push_application(hotline_client, clock)
    for guess in range(10):  # ten numbers, one guess each: no number's own budget is near its end
        missed = await hotline_client.get(f"/api/v1/applications/SX20261105{guess:06d}", params={"password": "000000"})
        assert missed.status == 404 and await _error_code(missed) == "application_not_found"
    blocked = await hotline_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"})
    assert blocked.status == 429 and await _error_code(blocked) == "lookup_rate_limited"
    assert "食品经营许可" not in await blocked.text()
    async with from_address() as http:
        elsewhere = await http.get(hotline_client.make_url(f"/api/v1/applications/{NUMBER}"),
                                   params={"password": "839201"})
        assert elsewhere.status == 200 and (await elsewhere.json())["application_no"] == NUMBER
    owner = await hotline_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)
    assert owner.status == 200  # the owner needs no password, so no budget locks her out


async def test_the_bot_stops_a_users_guessing_across_conversations_and_numbers(bot, clock):
    await _push_application(bot, clock)
    guesser, other = User(bot, "openid-guesser"), User(bot, "openid-neighbour")
    numbers = [f"SX20261105{n:06d}" for n in range(900, 904)]
    failures = 0
    for number in numbers:  # three wrong passwords end a conversation; start again with another number
        assert "查询密码" in await guesser.say(f"查询办件{number}")
        for _ in range(3):
            if failures == 10:
                break
            answer = await guesser.say("000000")
            failures += 1
            # the tenth failure spends the user's budget: told so at once, not "try again"
            assert answer == "查询失败次数过多，请10分钟后再试。" if failures == 10 else "不正确" in answer
    assert failures == 10
    assert "查询密码" in await guesser.say(f"查询办件{NUMBER}")
    refused = await guesser.say("839201")  # the right password, after ten failures of this user
    assert refused == "查询失败次数过多，请10分钟后再试。"
    assert "查询密码" in await other.say(f"查询办件{NUMBER}")
    assert "食品经营许可" in await other.say("839201")  # another user, another budget


async def test_the_bot_stops_walking_ticket_numbers_with_a_known_phone(bot):
    """Ticket numbers are a daily sequence; someone who knows a caller's phone must not be able to
    try number after number until the caller's tickets (a 举报 against them, say) turn up."""
    await add_staff(bot.server.app, "agent01", "agent", None)
    desk = Desk(bot)
    assert (await desk.login("agent01")).status == 200
    target = (await desk.call("举报楼下餐馆违规排放油烟", contact_phone="13912345678"))["number"]
    walker, caller = User(bot, "openid-walker"), User(bot, "openid-caller")
    for sequence in range(2, 12):
        assert "手机号码" in await walker.say(f"GD20261118{sequence:06d}")
        answer = await walker.say("13912345678")
        assert answer == "查询失败次数过多，请10分钟后再试。" if sequence == 11 else "不正确" in answer
        await walker.say("取消")
    assert "手机号码" in await walker.say(target)
    assert await walker.say("13912345678") == "查询失败次数过多，请10分钟后再试。"
    assert "手机号码" in await caller.say(target)
    assert "当前状态" in await caller.say("13912345678")  # the caller's own lookup is not blocked


async def test_a_grant_neither_renames_the_person_behind_a_number_nor_tells_their_name(hotline_client, alice,
                                                                                     as_citizen, clock):
    bob = await as_citizen("openid-bob", BOB)
    pushed = await signed(hotline_client, "/integration/v1/licences", licence(COMPANY, "营业执照", legal_representative={
        "id_number": ALICE["id_number"], "name": ALICE["name"]}), now=clock.now().timestamp())
    assert pushed.status == 200
    granted = await hotline_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                        json={"id_number": BOB["id_number"], "name": "冒用的名字",
                                              "valid_until": "2026-12-31"})
    assert granted.status == 201
    assert (await (await hotline_client.get("/api/v1/me", headers=bob)).json())["name"] == BOB["name"]
    unknown = "42070419850505123" + id_check_char("42070419850505123")  # a number the service has never seen
    assert (await hotline_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                      json={"id_number": unknown, "name": "探针", "valid_until": "2026-12-31"})).status == 201
    blank = await hotline_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                      json={"id_number": CAROL["id_number"], "name": "  ", "valid_until": "2026-12-31"})
    assert (blank.status, (await blank.json())["error"]["code"]) == (400, "agent_name_required")
    space = await (await hotline_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=alice)).json()
    # What the grantor typed, for a known person and an unknown number alike: no name, no "known or not".
    assert [m["name"] for m in space["members"] if m["role"] == "agent"] == ["冒用的名字", "探针"]


# ── replaying a captured webhook request ──

def _capture(wechat: WeChat, xml: str, *, timestamp: int) -> tuple[dict, bytes]:
    return wechat.credentials.sign(xml, timestamp=timestamp, nonce="captured-nonce")


async def test_a_captured_webhook_request_replayed_in_the_window_is_answered_once_and_refused_after(safe, redis_url):
    app = safe.app
    params, body = _capture(safe, safe.text("转人工", openid="openid-victim"), timestamp=safe.now())
    first = await safe.client.post("/wechat", params=params, data=body)
    first_bytes = await first.read()
    assert first.status == 200 and safe.credentials.open_reply(first_bytes)["MsgType"] == "transfer_customer_service"
    safe.clock.advance(timedelta(seconds=webhook.TIMESTAMP_WINDOW - 1))
    replay = await safe.client.post("/wechat", params=params, data=body)
    assert replay.status == 200 and await replay.read() == first_bytes
    assert await count_rows(app, Handoff) == 1
    before = await snapshot(app, redis_url)
    safe.clock.advance(timedelta(seconds=2))
    late = await safe.client.post("/wechat", params=params, data=body)
    assert late.status == 403 and await _error_code(late) == "wechat_timestamp_out_of_window"
    assert await snapshot(app, redis_url) == before


async def test_a_webhook_request_stays_recognised_for_as_long_as_its_timestamp_is_accepted(safe):
    """WeChat's clock may run ahead of ours: a request stamped 290 s ahead is accepted now and
    stays acceptable for 590 s more, so its dedupe mark must last at least that long."""
    stamped = safe.now() + 290
    msg_id = 770000000000000001
    xml = text_message("openid-early", ACCOUNT, "转人工", msg_id=msg_id, create_time=stamped)
    params, body = _capture(safe, xml, timestamp=stamped)
    assert (await safe.client.post("/wechat", params=params, data=body)).status == 200
    acceptable_for = stamped + webhook.TIMESTAMP_WINDOW - safe.now()
    mark = webhook.DEDUPE_KEY.format(account=ACCOUNT, key=f"msg:{msg_id}")
    assert await safe.app[keys.STATE].ttl(mark) >= acceptable_for
    safe.clock.advance(timedelta(seconds=acceptable_for))
    replay = await safe.client.post("/wechat", params=params, data=body)
    assert replay.status == 200 and await count_rows(safe.app, Handoff) == 1


# ── replaying a captured integration request ──

async def test_a_captured_integration_request_replayed_byte_for_byte_is_refused_and_writes_nothing(
        app_client, clock):
    path = "/integration/v1/identity-bindings"
    stamped = int(clock.now().timestamp()) + 290  # the sender's clock ahead of ours: the longest exposure
    raw, headers = signed_request(path, {"event_id": event_id("idp"), "openid": "openid-a", **ALICE},
                                  client_id=IDP, timestamp=stamped)
    assert (await app_client.post(path, data=raw, headers=headers)).status == 200
    written = await table_counts(app_client.server.app, Person, IntegrationEvent)
    replay = await app_client.post(path, data=raw, headers=headers)
    assert replay.status == 401 and await _error_code(replay) == "nonce_replayed"
    nonce_mark = NONCE_KEY.format(client=IDP, nonce=headers["X-Nonce"])
    acceptable_for = stamped + WINDOW_SECONDS - clock.now().timestamp()
    assert await app_client.server.app[keys.STATE].ttl(nonce_mark) >= acceptable_for
    clock.advance(timedelta(seconds=acceptable_for + 1))
    late = await app_client.post(path, data=raw, headers=headers)
    assert late.status == 401 and await _error_code(late) == "timestamp_out_of_window"
    assert await table_counts(app_client.server.app, Person, IntegrationEvent) == written


async def test_a_forged_request_does_not_spend_the_nonce_of_a_real_one(app_client, clock):
    path, now = "/integration/v1/licences", int(clock.now().timestamp())
    forged_raw, forged = signed_request(path, licence(BOB), client_id=ELIC, timestamp=now, nonce="nonce-7",
                                        secret="guessed-secret-0123456789")
    refused = await app_client.post(path, data=forged_raw, headers=forged)
    assert refused.status == 401 and await _error_code(refused) == "signature_invalid"
    raw, real = signed_request(path, licence(ALICE), client_id=ELIC, timestamp=now, nonce="nonce-7")
    accepted = await app_client.post(path, data=raw, headers=real)
    assert accepted.status == 200 and (await accepted.json())["result"] == "applied"


# ── oversized bodies ──

async def test_a_body_over_max_body_bytes_is_refused_with_413_before_anything_is_read_or_written(
        aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(integration_clients=SECRETS, max_body_bytes=4096),
                                             clock=clock))
    padding = "很长的内容" * 2000  # about 30 kB
    parsed = await client.post("/api/v1/nlu/parse", json={"text": padding})
    assert parsed.status == 413 and await _error_code(parsed) == "payload_too_large"
    pushed = await signed(client, "/integration/v1/identity-bindings",
                          {"event_id": event_id("idp"), "openid": "o-big", **ALICE, "note": padding},
                          client_id=IDP, now=clock.now().timestamp())
    assert pushed.status == 413 and await _error_code(pushed) == "payload_too_large"
    assert await count_rows(client.server.app, Person) == 0


# ── nothing personal, nothing secret in the logs ──

# Any 18-character run that is a valid 身份证号, and any mobile number in the shapes the
# understanding reads (+86, spaces, dashes); both deliberately looser than the masking's own.
ID_CANDIDATE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
PHONE_ANY = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
TYPED_PHONE = "+86 136-1234-5678"  # as a user types it; the bot accepts it as 13612345678


def _full_ids(text: str) -> list[str]:
    found = []
    for candidate in ID_CANDIDATE.findall(text):
        with contextlib.suppress(InvalidIdentifier):
            found.append(validate_id_number(candidate))
    return found


@pytest.fixture
def captured_logs():
    """Everything the service logs at DEBUG, as the JSON lines it writes; the root logger is put
    back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_no_log_line_carries_a_full_id_number_a_phone_number_or_a_wechat_secret(
        aiohttp_client, make_settings, clock, fake_wechat, captured_logs):
    token = "abuse-webhook-token"
    settings = make_settings(integration_clients=SECRETS, wechat_token=token, log_level="DEBUG",
                             **fake_wechat.settings())
    app = create_app(settings, clock=clock)

    async def bind_typed_phone(request):
        # A handler that stores input its column cannot hold: the database error, and with it the
        # statement's parameters, reach the log as a traceback.
        async with transaction(request.app) as session:
            await people.bind(session, "openid-typed", None, ALICE["id_number"], ALICE["name"],
                              f"{TYPED_PHONE}（工作日 9:00-17:00）", clock.now())
        raise AssertionError("the column should have refused the phone")

    app.router.add_post("/bind-typed-phone", bind_typed_phone)
    client = await aiohttp_client(app)
    await add_staff(client.server.app, "agent01", "agent", None)

    # the mini-program: login (WeChat's secret travels in the URL), the real-name binding, a complaint
    alice = {"Authorization": (await login(client, fake_wechat, "openid-alice"))["Authorization"]}
    await bind(signer(client, clock), "openid-alice", ALICE)
    filed = await file_ticket(client, alice, content=f"邻居王五（身份证{CAROL['id_number']}，电话{CAROL['phone']}）"
                                                     "家装修噪音每天到深夜")
    # the bot: a complaint whose content carries an ID number, a new phone typed with +86 and dashes
    credentials, now = Credentials(token), int(clock.now().timestamp())
    for n, text in enumerate([f"我要投诉，我的身份证号{ALICE['id_number']}，小区门口占道经营严重影响通行",
                              "滨江路88号", TYPED_PHONE, "1", "1"]):
        params, body = credentials.sign(text_message("openid-alice", "gh_abuse", text, msg_id=660000 + n,
                                                     create_time=now), timestamp=now)
        assert (await client.post("/wechat", params=params, data=body)).status == 200
    # the console: a phone call, a search by the caller's phone, the ticket opened
    desk = Desk(client)
    assert (await desk.login("agent01")).status == 200
    call = await desk.post("agent01", "/tickets", {"type": "求助", "content": f"来电人身份证{BOB['id_number']}，反映路灯不亮",
                                                   "contact_name": "李四", "contact_phone": BOB["phone"]})
    assert call.status == 201
    found = await (await desk.get("agent01", f"/search?q={ALICE['phone']}")).json()
    assert filed["number"] in [t["number"] for t in found["tickets"]]
    assert (await desk.get("agent01", f"/tickets/{filed['number']}")).status == 200
    # the notices go out through the console sender, which logs them
    assert await run_once(client.server.app) >= 3
    # an error path with a traceback
    failed = await client.post("/bind-typed-phone")
    assert failed.status == 500

    raw = captured_logs.getvalue()
    lines = [json.loads(line) for line in raw.splitlines()]
    assert any(entry["level"] == "debug" for entry in lines)
    assert _full_ids(raw) == []
    assert PHONE_ANY.findall(raw) == []
    for value in (ALICE["id_number"], BOB["id_number"], CAROL["id_number"], ALICE["phone"], BOB["phone"],
                  CAROL["phone"], "13612345678", fake_wechat.miniapp_secret, fake_wechat.app_secret):
        assert value not in raw, value
    # …while the masked forms are there: the lines were written, only masked
    [failure] = [entry for entry in lines if entry["msg"] == "unhandled error"]
    assert "110105********002X" in failure["exc"] and "136****5678" in failure["exc"]
    notices = [entry for entry in lines if entry["msg"] == "notification"]
    assert {"110105********002X", "139****9000"} <= {entry["to"] for entry in notices}
    assert any("secret=***" in entry["msg"] for entry in lines if entry["logger"].startswith("urllib3"))


# ── what each back-office system may push ──

async def test_with_scopes_a_client_may_push_only_what_is_listed_for_it(aiohttp_client, make_settings, clock):
    settings = make_settings(integration_clients=SECRETS, integration_scopes='{"elic": ["licences"], "idp": '
                                                                             '["identity-bindings"]}')
    client = await aiohttp_client(create_app(settings, clock=clock))
    now = clock.now().timestamp()
    binding = {"event_id": event_id("idp"), "openid": "openid-stolen", **ALICE}
    # The e-licence library's secret, leaked, cannot bind someone's ID number to another WeChat user.
    refused = await signed(client, "/integration/v1/identity-bindings", binding, client_id=ELIC, now=now)
    assert refused.status == 403 and await _error_code(refused) == "push_not_allowed"
    assert await table_counts(client.server.app, Person, IntegrationEvent) == {"persons": 0, "integration_events": 0}
    allowed = await signed(client, "/integration/v1/identity-bindings", binding, client_id=IDP, now=now)
    assert allowed.status == 200
    licence_push = await signed(client, "/integration/v1/licences", licence(ALICE), client_id=ELIC, now=now)
    assert licence_push.status == 200


@pytest.mark.parametrize("scopes, words", [
    ('{"elic": ["licences", "everything"]}', "可推送的类型列表"),
    ('["licences"]', "可推送的类型列表"),
    ('{"elic": [["licences"]]}', "可推送的类型列表"),
    ('{"nobody": ["licences"]}', "未在 INTEGRATION_CLIENTS 中登记：nobody"),
])
def test_bad_integration_scopes_stop_the_service_with_a_clear_line(scopes, words):
    with pytest.raises(SettingsError) as refused:
        load_settings(integration_clients=SECRETS, integration_scopes=scopes)
    assert words in str(refused.value)
