"""Faults, each with its outcome: Redis stopped, hung and started again under a running service;
PostgreSQL stopped mid-write and started again; the escalation scan's process killed mid-scan;
WeChat slow, erroring and expiring tokens under the outbox worker.

The service runs in-process (aiohttp test client) against throwaway servers of this module's own
(tests/servers.py), never the machine's shared ones: `database_url` and `redis_url` below
override conftest's, so every fixture built on them (make_settings, the tables emptied after each
test) uses the throwaway servers. They are reused across the module; whatever a test stopped or
hung is running again before the next test.

Elsewhere: a worker process SIGKILLed mid-batch and a worker cancelled mid-batch lose nothing and
send nothing twice (tests/test_reminders.py); the WeChat client's errcode mapping, token refresh
and timeout on their own (tests/test_wechat_client.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot import webhook
from bot.signing import Credentials
from core import keys, outbox
from core.db import create_engine, transaction
from core.migrate import migrate
from core.outbox import Draft, OutboxMessage
from core.settings import REPO_ROOT, load_settings
from core.wechat import TIMEOUT_SECONDS
from hotline.escalation import run_scan
from hotline.models import Supervision, Ticket, TicketEvent
from server import create_app
from tests.bot_helpers import TOKEN, WeChat, stored_conversation
from tests.hotline_helpers import at, call_on, desk, file_ticket, hotline_client, notices, records  # noqa: F401 - fixtures
from tests.personal_space_helpers import ALICE, SECRETS, citizen, login, signer
from tests.row_counts import table_counts
from tests.servers import PostgresServer, RedisServer

WECHAT_GIVES_UP = aiohttp.ClientTimeout(total=5)  # WeChat drops a reply that takes longer than 5 s
CUSTOM = "message/custom/send"


# ── the throwaway servers ──

@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """initdb once: this module is the only one that uses it."""
    server = PostgresServer.launch()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer.launch()
    try:
        yield server
    finally:
        server.close()


async def _migrated(url: str) -> None:
    engine = create_engine(load_settings(database_url=url))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def database_url(postgres) -> str:
    """conftest's, in the throwaway PostgreSQL: a database migrated to head."""
    url = postgres.create_database("faults").replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(_migrated(url))
    return url


@pytest.fixture
async def redis_url(redis) -> AsyncIterator[str]:
    """conftest's, in the throwaway Redis: flushed."""
    client = aioredis.Redis.from_url(redis.url())
    await client.flushall()
    await client.aclose()
    yield redis.url()


@pytest.fixture
def servers(make_settings, postgres, redis) -> Iterator[tuple[PostgresServer, RedisServer]]:
    """Both servers; running again after the test, before make_settings empties the tables."""
    yield postgres, redis
    redis.ensure_running()
    postgres.ensure_running()


# ── the service and its callers ──

@pytest.fixture
async def service(aiohttp_client, make_settings, fake_wechat, clock):
    """The whole service: the webhook, the mini-program API, citizens' notices by subscribe message."""
    settings = make_settings(wechat_token=TOKEN, integration_clients=SECRETS, notify_channel="wechat_subscribe",
                             wechat_templates={"ticket_progress": "TPL-TICKET"}, **fake_wechat.settings())
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture
def wechat(service, clock) -> WeChat:
    return WeChat(service, Credentials(TOKEN), clock)


@pytest.fixture
async def alice(service, fake_wechat, clock) -> dict:
    """Logged in on the mini-program and bound to ALICE; her WeChat openid is `openid-faults`."""
    return await citizen(service, fake_wechat, signer(service, clock), "openid-faults", ALICE)


async def says(wechat: WeChat, content: str, openid: str = "openid-faults") -> str:
    """The bot's passive text reply, as WeChat gets it: WeChat hangs up after 5 seconds, which
    fails the test with a TimeoutError."""
    params, body = wechat.credentials.sign(wechat.text(content, openid=openid), timestamp=wechat.now(),
                                           nonce="nonce-faults")
    response = await wechat.client.post("/wechat", params=params, data=body, timeout=WECHAT_GIVES_UP)
    raw = await response.read()
    assert response.status == 200 and response.content_type == "application/xml", raw
    reply = wechat.credentials.open_reply(raw)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == openid
    return reply["Content"]


async def error_of(response) -> tuple[int, str]:
    return response.status, (await response.json())["error"]["code"]


async def readiness(client) -> tuple[int, list[str]]:
    response = await client.get("/readyz")
    return response.status, (await response.json()).get("error", {}).get("failed", [])


async def counts(app) -> dict[str, int]:
    """What a citizen's filing and the escalation scan write."""
    return await table_counts(app, Ticket, TicketEvent, OutboxMessage, Supervision)


async def outbox_rows(app) -> list[OutboxMessage]:
    async with transaction(app) as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ── 1. Redis stops, hangs and comes back ──

async def test_with_redis_stopped_the_bot_says_busy_api_calls_get_503_and_all_recovers_without_a_restart(
        servers, service, wechat, alice, fake_wechat, clock):
    _, redis = servers
    app = service.server.app
    first = await file_ticket(service, alice)  # its notice waits in the outbox
    assert (await says(wechat, "我要投诉")).startswith("请描述您要反映的问题")
    assert "事发地点" in await says(wechat, "小区门口井盖缺失三天了，晚上很危险")  # a conversation going
    before = await counts(app)

    redis.stop()
    assert await says(wechat, "滨江路88号") == webhook.FAILURE_TEXT  # a real reply, in time, saying busy
    assert await readiness(service) == (503, ["state_store"])
    fake_wechat.add_code("code-in-outage", "openid-faults")
    login_in_outage = await service.post("/api/v1/auth/login", json={"code": "code-in-outage"})
    assert await error_of(login_in_outage) == (503, "state_store_unavailable")
    assert await error_of(await service.get("/api/v1/me", headers=alice)) == (503, "state_store_unavailable")
    filing = await service.post("/api/v1/tickets", json={"content": "小区停电一整天了没人管"}, headers=alice)
    assert await error_of(filing) == (503, "state_store_unavailable")  # refused before anything is written
    assert await outbox.run_once(app) == 1  # WeChat's access token lives in Redis: try again later
    [notice] = await outbox_rows(app)
    assert (notice.state, notice.attempts) == ("temporary-failure", 1) and "Redis" in notice.last_error
    assert await counts(app) == before and fake_wechat.subscribe_messages == []

    redis.start()  # on the same port, empty; the service is not restarted
    assert await readiness(service) == (200, [])
    # The conversation is lost with Redis' contents: the answer is a stranger's to the same words.
    assert await says(wechat, "滨江路88号") == await says(wechat, "滨江路88号", openid="openid-stranger")
    assert await error_of(await service.get("/api/v1/me", headers=alice)) == (401, "session_expired")
    retried = await service.post("/api/v1/auth/login", json={"code": "code-in-outage"})
    assert await error_of(retried) == (400, "invalid_login_code")  # WeChat took the code: wx.login again
    again = await login(service, fake_wechat, "openid-faults")
    second = await file_ticket(service, {"Authorization": again["Authorization"]})
    assert (first["number"], second["number"]) == ("GD20261118000001", "GD20261118000002")
    clock.advance(timedelta(seconds=30))  # the notice's backoff
    assert await outbox.run_once(app) == 2
    assert sorted(m["data"]["工单编号"]["value"] for m in fake_wechat.subscribe_messages) \
        == [first["number"], second["number"]]  # each notice once
    assert [m.state for m in await outbox_rows(app)] == ["delivered", "delivered"]


async def test_a_hung_redis_cannot_hold_the_wechat_reply_and_nothing_is_lost_when_it_answers_again(
        servers, service, wechat, alice):
    _, redis = servers
    assert (await says(wechat, "我要投诉")).startswith("请描述您要反映的问题")
    assert "事发地点" in await says(wechat, "小区门口井盖缺失三天了，晚上很危险")

    redis.pause()  # SIGSTOP: connections are accepted, nothing is answered
    try:
        assert await says(wechat, "滨江路88号") == webhook.FAILURE_TEXT  # within WeChat's 5 seconds
        assert await error_of(await service.get("/api/v1/me", headers=alice)) == (503, "state_store_unavailable")
        assert await readiness(service) == (503, ["state_store"])
    finally:
        redis.resume()

    # Redis kept its contents: the session and the conversation go on where they were.
    assert (await service.get("/api/v1/me", headers=alice)).status == 200
    assert "138****8000" in await says(wechat, "滨江路88号")  # the complaint's next step: the contact
    assert await readiness(service) == (200, [])


async def test_a_redis_that_hangs_after_the_claim_keeps_the_conversation_where_it_was_and_says_busy(
        servers, service, wechat, database_url):
    """The dialogue ran (the claim read the conversation before Redis hung), but what it keeps
    could not be stored in time: the user is told the service is busy rather than asked a
    question the conversation may not know it asked. (Whether the write lands when Redis answers
    again is unknown to the service, as with any write that timed out; asking again works either way.)"""
    _, redis = servers
    locked, released = asyncio.Event(), asyncio.Event()

    async def hold_applications() -> None:  # the dialogue's progress lookup waits on it
        engine = create_engine(load_settings(database_url=database_url))
        try:
            async with engine.begin() as conn:
                await conn.execute(text("LOCK TABLE applications IN ACCESS EXCLUSIVE MODE"))
                locked.set()
                await released.wait()
        finally:
            await engine.dispose()

    holder = asyncio.create_task(hold_applications())
    await locked.wait()
    asking = asyncio.create_task(says(wechat, "查询办件SX20261105000123"))
    await asyncio.sleep(0.5)  # claimed, and waiting for the applications table
    redis.pause()
    try:
        released.set()
        await holder
        assert await asking == webhook.FAILURE_TEXT  # within WeChat's 5 seconds
    finally:
        redis.resume()
    assert "查询密码" in await says(wechat, "查询办件SX20261105000123")  # the same question, asked again
    assert (await stored_conversation(service.server.app, "openid-faults")).step == "password"


# ── 2. PostgreSQL stops and comes back ──

async def test_with_postgresql_stopped_requests_get_503_database_unavailable_and_the_first_after_the_restart_succeeds(
        servers, service, wechat, alice):
    postgres, _ = servers
    app = service.server.app
    first = await file_ticket(service, alice)
    assert first["number"] in await says(wechat, "我的工单办得怎么样了")

    postgres.stop()
    assert await error_of(await service.get("/api/v1/me/tickets", headers=alice)) == (503, "database_unavailable")
    filing = await service.post("/api/v1/tickets", json={"content": "小区停电一整天了没人管"}, headers=alice)
    assert await error_of(filing) == (503, "database_unavailable")
    assert await says(wechat, f"{first['number']}办得怎么样了") == webhook.FAILURE_TEXT
    assert await readiness(service) == (503, ["database"])

    postgres.start()  # on the same port; the service is not restarted
    mine = await service.get("/api/v1/me/tickets", headers=alice)
    assert mine.status == 200 and [t["number"] for t in await mine.json()] == [first["number"]]
    second = await file_ticket(service, alice)
    assert second["number"] == "GD20261118000002"  # the refused filing took no number
    assert second["number"] in await says(wechat, f"{second['number']}办得怎么样了")
    assert await readiness(service) == (200, [])
    assert (await counts(app))["tickets"] == 2

    postgres.stop()
    postgres.start()  # a quick restart between two requests: every connection in the pool is dead
    assert (await service.get("/api/v1/me/tickets", headers=alice)).status == 200


async def _lock_table(url: str, table: str, locked: asyncio.Event, release: asyncio.Event) -> None:
    """Another session holding `table` locked until `release` is set."""
    engine = create_engine(load_settings(database_url=url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            await release.wait()
    except DBAPIError:  # the server stopped under it: the lock went with the session
        pass
    finally:
        await engine.dispose()


async def _polled(url: str, query: str, params: dict, until=lambda value: value is not None):
    """The first value of `query` that `until` accepts, asked every 50 ms on a connection of its own."""
    engine = create_engine(load_settings(database_url=url))
    try:
        while True:
            async with engine.connect() as conn:
                value = await conn.scalar(text(query), params)
            if until(value):
                return value
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def _waits_for_lock(url: str, statement: str) -> int:
    """The backend pid of a session blocked on a lock while running `statement…`, once there is one."""
    return await _polled(url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :statement",
                         {"statement": f"{statement}%"})


async def test_a_ticket_being_filed_when_postgresql_stops_is_written_whole_or_not_at_all(
        servers, service, alice, database_url):
    postgres, _ = servers
    app = service.server.app
    assert await counts(app) == {"tickets": 0, "ticket_events": 0, "outbox": 0, "supervisions": 0}
    locked, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_lock_table(database_url, "outbox", locked, release))
    await locked.wait()
    filing = asyncio.create_task(service.post("/api/v1/tickets", json={"content": "小区停电一整天了没人管"},
                                              headers=alice))
    # The ticket and its first timeline step are written; the citizen's notice waits for the lock.
    await asyncio.wait_for(_waits_for_lock(database_url, "INSERT INTO outbox"), 30)

    postgres.stop()  # fast shutdown: the filing's session ends mid-transaction
    assert await error_of(await filing) == (503, "database_unavailable")
    release.set()
    await holder
    postgres.start()

    assert await counts(app) == {"tickets": 0, "ticket_events": 0, "outbox": 0, "supervisions": 0}
    filed = await file_ticket(service, alice)
    assert filed["number"] == "GD20261118000001"  # the daily sequence was rolled back too
    assert await counts(app) == {"tickets": 1, "ticket_events": 1, "outbox": 1, "supervisions": 0}


async def _ended(url: str, pid: int) -> None:
    """Once the server has ended backend `pid` (and rolled back its transaction)."""
    await _polled(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}, until=lambda n: n == 0)


# ── 3. The escalation scan's process killed mid-scan ──

# A worker that runs one escalation scan: only what the scan needs (database and calendar), so
# it starts in a moment; run_scan is the same code the full service runs every minute.
SCAN_WORKER = """
import asyncio, json, sys
from datetime import datetime
from aiohttp import web
from core import keys
from core.calendar_service import calendar_context
from core.clock import FrozenClock
from core.db import database_context
from core.settings import load_settings
from hotline.escalation import run_scan

async def main(settings, now):
    app = web.Application()
    app[keys.SETTINGS], app[keys.CLOCK] = load_settings(**settings), FrozenClock(datetime.fromisoformat(now))
    app[keys.CALENDAR_HOOKS] = []
    app.cleanup_ctx.extend([database_context, calendar_context])
    runner = web.AppRunner(app)
    await runner.setup()
    await run_scan(app)
    await runner.cleanup()

asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2]))
"""


async def _cards(app, numbers: list[str]) -> list[str]:
    async with transaction(app) as session:
        rows = await session.execute(select(Ticket.number, Ticket.card).where(Ticket.number.in_(numbers)))
        cards = dict(rows.all())
    return [cards[number] for number in numbers]


async def test_an_escalation_scan_killed_mid_scan_leaves_no_card_and_no_record_and_the_next_scan_raises_each_once(
        hotline_client, desk, clock, database_url, calendar_file, tmp_path):
    app = hotline_client.server.app
    numbers = [await call_on(desk, clock, "2026-11-18", department) for department in ("cgj", "cgj", "zjj")]
    late = at("2026-11-26", 0, 0, 1)  # all three a second overdue: three red cards
    before = await counts(app)
    locked, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_lock_table(database_url, "outbox", locked, release))
    await locked.wait()
    settings = {"database_url": database_url, "calendar_file": str(calendar_file), "migrate_on_start": False,
                "demo_data": False, "run_workers": False}
    with (tmp_path / "worker.log").open("wb") as log:
        worker = await asyncio.create_subprocess_exec(sys.executable, "-c", SCAN_WORKER, json.dumps(settings),
                                                      late.isoformat(), cwd=REPO_ROOT, stdout=log, stderr=log)
    # Cards raised and 督办 records written in the scan's transaction; its notices wait for the lock.
    blocked = asyncio.create_task(_waits_for_lock(database_url, "INSERT INTO outbox"))
    try:
        done, _ = await asyncio.wait({blocked, asyncio.create_task(worker.wait())}, timeout=50,
                                     return_when=asyncio.FIRST_COMPLETED)
        assert blocked in done, (tmp_path / "worker.log").read_text()
    finally:
        blocked.cancel()  # when the worker did not get that far
        if worker.returncode is None:
            worker.send_signal(signal.SIGKILL)  # mid-scan, still holding its transaction open
        await worker.wait()
        release.set()
        await holder
    await asyncio.wait_for(_ended(database_url, blocked.result()), 30)

    assert await _cards(app, numbers) == ["none", "none", "none"]
    assert await counts(app) == before  # no 督办 record, no notice
    clock.set(late)
    assert await run_scan(app) == {"red": 3, "yellow": 0, "sign_overdue": 0}
    assert await _cards(app, numbers) == ["red", "red", "red"]
    assert sorted(await records(app, "red")) == sorted((n, "red", late.date(), d)
                                                      for n, d in zip(numbers, ("cgj", "cgj", "zjj")))
    assert sorted(n for n in await notices(app) if n[1] == "ticket_red") == [
        ("staff:cgj", "ticket_red", set(numbers[:2])), ("staff:supervisors", "ticket_red", set(numbers)),
        ("staff:zjj", "ticket_red", {numbers[2]})]
    assert await run_scan(app) == {"red": 0, "yellow": 0, "sign_overdue": 0}  # and nothing twice
    assert len(await records(app)) == 3


# ── 4. WeChat slow, erroring, expiring tokens: through the outbox worker ──

def _custom(key: str, openid: str, content: str) -> Draft:
    return Draft(key=key, channel="wechat_custom", address=openid, recipient=f"openid:{openid}", kind="bot_followup",
                 data={"text": content})


async def _queue(app, *drafts: Draft) -> None:
    async with transaction(app) as session:
        await outbox.enqueue(session, list(drafts), app[keys.CLOCK].now())


async def _row(app, key: str | None = None) -> tuple:
    """The outbox row of `key`, or the one row there is."""
    [row] = [r for r in await outbox_rows(app) if key in (None, r.key)]
    return row.state, row.attempts, row.next_attempt_at, row.last_error


async def test_wechat_answering_5xx_is_retried_with_growing_backoff_and_the_message_delivered_once(
        service, fake_wechat, clock):
    app = service.server.app
    await _queue(app, _custom("m1", "openid-1", "您的工单已答复"))
    fake_wechat.fail_next(CUSTOM, -1, times=3, status=503)
    for attempt, backoff in ((1, 30), (2, 60), (3, 120)):
        assert await outbox.run_once(app) == 1
        assert await _row(app) == ("temporary-failure", attempt, clock.now() + timedelta(seconds=backoff),
                                   "-1 微信接口应答 HTTP 503")
        assert await outbox.run_once(app) == 0  # not before its time
        clock.advance(timedelta(seconds=backoff))
    assert await outbox.run_once(app) == 1
    state, attempts, _, last_error = await _row(app)
    assert (state, attempts, last_error) == ("delivered", 4, None)
    assert [m["touser"] for m in fake_wechat.custom_messages] == ["openid-1"]
    assert fake_wechat.requests.count("/cgi-bin/message/custom/send") == 4


async def test_wechat_slower_than_the_call_timeout_is_retried_after_the_backoff(service, fake_wechat, clock):
    app = service.server.app
    await _queue(app, _custom("m1", "openid-1", "您的工单已答复"))
    fake_wechat.delay = TIMEOUT_SECONDS + 0.5  # the access token does not come in time
    assert await outbox.run_once(app) == 1
    assert await _row(app) == ("temporary-failure", 1, clock.now() + timedelta(seconds=30),
                               f"-1 微信接口 {TIMEOUT_SECONDS:g} 秒内未应答")
    assert fake_wechat.custom_messages == []
    fake_wechat.delay = 0
    clock.advance(timedelta(seconds=30))
    assert await outbox.run_once(app) == 1
    assert (await _row(app))[:2] == ("delivered", 2)
    assert [m["touser"] for m in fake_wechat.custom_messages] == ["openid-1"]


async def test_a_message_sent_but_not_answered_in_time_is_never_sent_again(service, fake_wechat, clock):
    """WeChat may have delivered what it did not answer: a second copy is worse than an
    operator's look, so the row becomes technical-failure, as a worker cut off mid-send does."""
    app = service.server.app
    await _queue(app, _custom("m0", "openid-0", "您的工单已受理"))
    assert await outbox.run_once(app) == 1  # the access token is in; from here on only the send is slow
    await _queue(app, _custom("m1", "openid-1", "您的工单已答复"))
    fake_wechat.delay = TIMEOUT_SECONDS + 0.5
    assert await outbox.run_once(app) == 1
    fake_wechat.delay = 0
    for _ in range(60):  # the fake takes the message in once its delay is over
        if len(fake_wechat.custom_messages) == 2:
            break
        await asyncio.sleep(0.05)
    state, attempts, _, last_error = await _row(app, "m1")
    assert (state, attempts) == ("technical-failure", 1)
    assert last_error == f"-1 微信接口 {TIMEOUT_SECONDS:g} 秒内未应答；消息可能已送达（不自动重发）"
    clock.advance(timedelta(hours=2))
    assert await outbox.run_once(app) == 0
    assert [m["touser"] for m in fake_wechat.custom_messages] == ["openid-0", "openid-1"]


async def test_an_expired_access_token_is_refreshed_and_the_message_delivered_exactly_once(service, fake_wechat):
    app = service.server.app
    await _queue(app, _custom("m1", "openid-1", "第一条"))
    assert await outbox.run_once(app) == 1
    fake_wechat.expire_tokens()
    await _queue(app, _custom("m2", "openid-2", "第二条"))
    assert await outbox.run_once(app) == 1
    assert [(m.state, m.attempts) for m in await outbox_rows(app)] == [("delivered", 1), ("delivered", 1)]
    assert [m["text"]["content"] for m in fake_wechat.custom_messages] == ["第一条", "第二条"]
    assert fake_wechat.tokens_issued == 2


async def test_a_permanent_errcode_marks_the_message_failed_with_the_errcode_and_it_is_not_retried(
        service, fake_wechat, clock):
    app = service.server.app
    await _queue(app, _custom("m1", "openid-1", "您的工单已答复"))
    fake_wechat.fail_next(CUSTOM, 45015)  # the user has not written within 48 hours
    assert await outbox.run_once(app) == 1
    state, attempts, _, last_error = await _row(app)
    assert (state, attempts) == ("permanent-failure", 1) and last_error.startswith("45015 ")
    clock.advance(timedelta(days=1))
    assert await outbox.run_once(app) == 0
    assert fake_wechat.custom_messages == []


async def test_a_bot_answer_that_missed_the_budget_arrives_once_after_wechat_was_erroring_for_a_while(
        service, wechat, fake_wechat, database_url, clock):
    app = service.server.app
    locked, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_lock_table(database_url, "applications", locked, release))
    await locked.wait()
    try:
        assert await says(wechat, "查询办件SX20261105000123", openid="openid-slow") == webhook.HOLDING_TEXT
    finally:
        release.set()
        await holder
    while not await outbox_rows(app):  # the dialogue finishes once the lock is gone; its answer is queued
        await asyncio.sleep(0.05)
    fake_wechat.fail_next(CUSTOM, -1)  # system busy
    fake_wechat.fail_next(CUSTOM, -1, times=2, status=502)
    for backoff in (30, 60, 120):
        assert await outbox.run_once(app) == 1
        assert (await _row(app))[0] == "temporary-failure"
        clock.advance(timedelta(seconds=backoff))
    assert await outbox.run_once(app) == 1
    assert (await _row(app))[:2] == ("delivered", 4)
    [message] = fake_wechat.custom_messages
    assert message["touser"] == "openid-slow" and "查询密码" in message["text"]["content"]
