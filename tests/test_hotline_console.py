"""The console's accounts and side queues: login and lockout, the page's security headers,
category suggestions, handoffs answered through WeChat's 48-hour window, and bad service
ratings of applications turned into tickets."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import select

from core import keys
from core.clock import SHANGHAI
from core.db import transaction
from core.outbox import OutboxMessage, run_once
from hotline import handoffs, rules
from hotline.follow_up import open_rating_tickets
from hotline.models import Staff
from tests.hotline_helpers import (  # noqa: F401 - fixtures
    PASSWORD, Desk, alice, as_citizen, desk, file_ticket, hotline_client, stored,
)
from tests.personal_space_helpers import ALICE, event_id, signed


async def test_login_locks_after_five_failures_and_unlocks_after_fifteen_minutes(hotline_client, clock):
    desk = Desk(hotline_client)
    for attempt in range(4):
        response = await desk.login("agent01", "wrong-password")
        assert response.status == 401 and (await response.json())["error"]["code"] == "login_failed"
    fifth = await desk.login("agent01", "wrong-password")
    assert fifth.status == 423 and (await fifth.json())["error"]["code"] == "account_locked"
    locked = await desk.login("agent01")  # even the right password, while locked
    assert locked.status == 423
    clock.advance(timedelta(minutes=14, seconds=59))
    assert (await desk.login("agent01")).status == 423
    clock.advance(timedelta(seconds=2))
    assert (await desk.login("agent01")).status == 200
    # A username that is no account answers exactly as one would: no probing for usernames.
    for attempt in range(4):
        unknown = await desk.login("nobody", PASSWORD)
        assert unknown.status == 401 and (await unknown.json())["error"]["message"] == "用户名或密码错误"
    fifth = await desk.login("nobody", PASSWORD)
    assert fifth.status == 423 and (await fifth.json())["error"]["code"] == "account_locked"
    assert (await desk.login("nobody", PASSWORD)).status == 423


async def test_slow_guessing_neither_locks_nor_tells_an_account_from_a_username_that_is_none(hotline_client, clock):
    """Failures count for 15 minutes, for an account and for any other username alike: four, a
    wait, and a fifth answer 401 for both, where a count that never decayed would lock only the
    account and so name it."""
    desk = Desk(hotline_client)
    answers = {}
    for username in ("agent01", "nobody"):
        answers[username] = [(await desk.login(username, "wrong-password")).status for _ in range(4)]
    clock.advance(timedelta(minutes=15, seconds=1))
    for username in ("agent01", "nobody"):
        answers[username].append((await desk.login(username, "wrong-password")).status)
    assert answers == {"agent01": [401] * 5, "nobody": [401] * 5}
    assert (await desk.login("agent01")).status == 200


async def test_a_password_hashed_with_older_parameters_is_hashed_again_at_login(hotline_client):
    """When argon2's parameters are raised, each account moves to them at its next login."""
    app = hotline_client.server.app
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with transaction(app) as session:
        (await session.get(Staff, "agent01")).password_hash = weaker
    assert (await Desk(hotline_client).login("agent01")).status == 200
    async with transaction(app) as session:
        stored = (await session.get(Staff, "agent01")).password_hash
    assert stored != weaker and not PasswordHasher().check_needs_rehash(stored)
    assert PasswordHasher().verify(stored, PASSWORD)
    assert (await Desk(hotline_client).login("agent01")).status == 200


async def test_the_session_cookie_is_httponly_and_strict_and_logout_ends_it(hotline_client):
    response = await hotline_client.post("/console/api/login", json={"username": "agent01", "password": PASSWORD})
    cookie = response.cookies["console_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    assert cookie["max-age"] == str(8 * 3600)
    # The store names the session by the token's SHA-256 only, for one shift
    state = hotline_client.server.app[keys.STATE]
    key = "hotline:console:" + hashlib.sha256(cookie.value.encode()).hexdigest()
    assert await state.get_json(key) == {"username": "agent01"}
    assert 8 * 3600 - 5 < await state.ttl(key) <= 8 * 3600
    assert (await hotline_client.get("/console/api/me")).status == 200
    assert (await hotline_client.post("/console/api/logout", json={})).status == 200
    hotline_client.session.cookie_jar.update_cookies({"console_session": cookie.value})
    after = await hotline_client.get("/console/api/me")
    assert after.status == 401 and (await after.json())["error"]["code"] == "session_expired"
    assert await state.get(key) is None


async def test_a_deactivated_account_loses_its_session_at_once(hotline_client, desk):
    async with transaction(hotline_client.server.app) as session:
        (await session.get(Staff, "dept-cgj")).active = False
    response = await desk.get("dept-cgj", "/me")
    assert response.status == 401


async def test_a_form_post_from_another_site_is_refused(hotline_client, desk):
    response = await hotline_client.post("/console/api/tickets", data="type=投诉&content=x",
                                         headers={**desk._headers("agent01"),
                                                  "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415


async def test_the_page_is_served_with_a_strict_content_security_policy(hotline_client):
    page = await hotline_client.get("/console/")
    assert page.status == 200 and page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    script = await hotline_client.get("/console/static/console.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert script.headers["Content-Security-Policy"] == policy and script.headers["X-Content-Type-Options"] == "nosniff"
    assert (await hotline_client.get("/console/static/..%2Fmodels.py")).status == 404
    assert (await hotline_client.get("/console/static/index.html")).status == 404
    assert (await hotline_client.get("/console/static/console.py")).status == 404


async def test_console_error_responses_carry_the_security_headers_too(hotline_client):
    """Errors are made by the error middleware, outside the handlers: they get the headers as well."""
    refusals = [await hotline_client.get("/console/api/me"),  # 401: not logged in
                await hotline_client.get("/console/static/nothing.js"),  # 404
                await hotline_client.post("/console/api/login", data="username=a&password=b",  # 415: not JSON
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})]
    assert [r.status for r in refusals] == [401, 404, 415]
    for response in refusals:
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY"
    assert refusals[0].headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in (await hotline_client.get("/healthz")).headers


async def test_the_meta_gives_the_time_limits_the_console_explains(desk):
    """The console's forms state the limits (一般/疑难, 重办, 延期) from here, never their own copies."""
    meta = await (await desk.get("dept-cgj", "/meta")).json()
    assert meta["time_limits"] == {"difficulty_days": {"general": 5, "difficult": 15}, "reopen_days": 5,
                                   "max_extension_days": 10}
    assert meta["time_limits"]["difficulty_days"] == rules.DIFFICULTY_DAYS and \
        meta["difficulties"].keys() == rules.DIFFICULTY_DAYS.keys()


async def test_agents_see_a_suggested_category_and_department(desk):
    created = await desk.call("我们小区旁边的工地每天夜里施工到凌晨两点，噪音太大根本睡不着。")
    suggestions = created["suggestions"]
    assert suggestions and suggestions[0]["department_name"]
    assert suggestions[0]["category"] in ("环境保护", "城乡建设")
    assert [s["score"] for s in suggestions] == sorted((s["score"] for s in suggestions), reverse=True)
    chosen = await desk.ok("agent01", created["number"], "classify", category=suggestions[0]["category"])
    assert chosen["category"] == suggestions[0]["category"]
    await desk.ok("agent01", created["number"], "dispatch", department="cgj")
    assert (await desk.ticket("dept-cgj", created["number"]))["suggestions"] == []  # for agents only


async def test_search_by_number_and_by_phone(desk):
    first = (await desk.call())["number"]
    second = (await desk.call(contact_phone="13700001111"))["number"]
    by_phone = await (await desk.get("agent01", "/search?q=139 1234 5678")).json()
    assert [t["number"] for t in by_phone["tickets"]] == [first]
    by_number = await (await desk.get("agent01", f"/search?q={second.lower()}")).json()
    assert [t["number"] for t in by_number["tickets"]] == [second]
    bad = await desk.get("agent01", "/search?q=路灯")
    assert (await bad.json())["error"]["code"] == "invalid_search"


async def test_queues_page_by_cursor_without_repeats(desk):
    numbers = [(await desk.call())["number"] for _ in range(5)]
    seen, pages, after = [], 0, None
    while True:
        path = "/queues/new?limit=2" + (f"&after={after}" if after else "")
        page = await (await desk.get("agent01", path)).json()
        assert len(page["tickets"]) <= 2
        seen += [t["number"] for t in page["tickets"]]
        pages, after = pages + 1, page["next"]
        if after is None:
            break
    assert seen == numbers and pages == 3
    broken = await desk.get("agent01", "/queues/new?after=garbage")
    assert (await broken.json())["error"]["code"] == "invalid_cursor"


# --- handoffs ---------------------------------------------------------------------------------


async def test_a_handoff_answer_goes_by_customer_service_message_within_48_hours(hotline_client, desk, clock,
                                                                                 fake_wechat):
    app = hotline_client.server.app
    async with transaction(app) as session:
        handoff = await handoffs.open_handoff(session, "openid-user", [
            {"at": clock.now().isoformat(), "from": "user", "text": "<b>我要找人工</b>"},
            {"at": clock.now().isoformat(), "from": "bot", "text": "正在为您转接人工客服"}], clock.now())
    waiting = await (await desk.get("agent01", "/handoffs")).json()
    assert [h["id"] for h in waiting] == [handoff.id] and waiting[0]["transcript"][0]["text"] == "<b>我要找人工</b>"
    assert waiting[0]["window_open"] and waiting[0]["taken_by"] is None
    clock.advance(timedelta(hours=47))
    answered = await desk.post("agent01", f"/handoffs/{handoff.id}/reply", {"text": "您好，我是12345话务员，请讲。"})
    body = await answered.json()
    assert answered.status == 200 and body["replies"][-1]["delivery"] == "queued" and body["state"] == "answered"
    assert body["taken_by"] == "agent01"
    await run_once(app)
    assert [m["text"]["content"] for m in fake_wechat.custom_messages] == ["您好，我是12345话务员，请讲。"]

    clock.advance(timedelta(hours=2))  # 49 hours after the user's last message
    late = await (await desk.post("agent01", f"/handoffs/{handoff.id}/reply", {"text": "还在吗？"})).json()
    assert late["replies"][-1]["delivery"] == "undeliverable" and not late["window_open"]
    await run_once(app)
    assert len(fake_wechat.custom_messages) == 1
    closed = await desk.post("agent01", f"/handoffs/{handoff.id}/close")
    assert (await closed.json())["state"] == "closed"
    again = await desk.post("agent01", f"/handoffs/{handoff.id}/reply", {"text": "x"})
    assert again.status == 409 and (await again.json())["error"]["code"] == "handoff_closed"
    assert await (await desk.get("agent01", "/handoffs")).json() == []


async def test_a_failed_customer_service_message_is_visible_in_the_outbox(hotline_client, desk, clock, fake_wechat):
    app = hotline_client.server.app
    async with transaction(app) as session:
        handoff = await handoffs.open_handoff(session, "openid-user", [], clock.now())
    fake_wechat.fail_next("/cgi-bin/message/custom/send", errcode=45015)
    await desk.post("agent01", f"/handoffs/{handoff.id}/reply", {"text": "您好"})
    await run_once(app)
    async with transaction(app) as session:
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "handoff_reply"))
    assert message.state == "permanent-failure" and "45015" in message.last_error


# --- bad service ratings of applications ----------------------------------------------------


async def test_a_bad_application_rating_opens_a_complaint_ticket_once(hotline_client, desk, alice, clock):
    client = hotline_client
    body = {"event_id": event_id("app"), "application_no": "SX20261105000123", "query_password": "839201",
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
            "state": "approved", "occurred_at": "2026-11-16T10:00:00+08:00", "promised_working_days": 10}
    assert (await signed(client, "/integration/v1/application-events", body, now=clock.now().timestamp())).status == 200
    rated = await client.post("/api/v1/applications/SX20261105000123/rating",
                              json={"level": "非常不满意", "reason": "窗口让我跑了三趟"}, headers=alice)
    assert rated.status == 201
    app = client.server.app
    [number] = await open_rating_tickets(app)
    assert await open_rating_tickets(app) == []  # once only
    ticket = await stored(client, number)
    assert ticket.type == "投诉" and ticket.application_no == "SX20261105000123" and ticket.channel == "rating"
    assert ticket.citizen_id == ALICE["id_number"] and ticket.contact_phone == ALICE["phone"]
    assert "窗口让我跑了三趟" in ticket.content
    assert ticket.due_date.isoformat() == "2026-11-25"  # the same 5 working days as any ticket
    mine = await (await client.get("/api/v1/me/tickets", headers=alice)).json()
    assert [t["number"] for t in mine] == [number]
    queue = await (await desk.get("agent01", "/queues/new")).json()
    assert number in [t["number"] for t in queue["tickets"]]


async def test_demo_accounts_log_in(aiohttp_client, make_settings, clock):
    from hotline.demo import DEMO_PASSWORD
    from server import create_app

    client = await aiohttp_client(create_app(make_settings(demo_data=True), clock=clock))
    desk = Desk(client)
    for username in ("agent01", "supervisor01", "dept-cgj"):
        assert (await desk.login(username, DEMO_PASSWORD)).status == 200
    queue = await (await desk.get("agent01", "/queues/new")).json()
    assert len(queue["tickets"]) == 2  # the demo's two undispatched calls
    mine = await (await desk.get("dept-cgj", "/queues/department")).json()
    assert len(mine["tickets"]) == 1


async def test_the_service_starts_when_the_datasets_are_absent(aiohttp_client, make_settings, clock, tmp_path):
    from server import create_app

    client = await aiohttp_client(create_app(make_settings(hotline_datasets_dir=tmp_path), clock=clock))
    desk = Desk(client)
    async with transaction(client.server.app) as session:
        from tests.hotline_helpers import _password_hash

        session.add(Staff(username="agent01", name="a", role="agent", department=None, password_hash=_password_hash(),
                          active=True, created_at=datetime(2026, 11, 18, tzinfo=SHANGHAI)))
    await desk.login("agent01")
    assert (await desk.call())["suggestions"] == []
