"""Several processes, one service: two web servers (RUN_WORKERS off) and two `server.py worker`
processes against one PostgreSQL database and one Redis database behave as one process does.

The processes start once for the module (the servers load the knowledge base and the models).
They run on the real clock, so the data is dated from today in Asia/Shanghai. The workers plan
reminders, scan deadlines and take up bad ratings when they start and then only every one to five
minutes, so what they are to find is put in place, through the servers, before they start. The
module empties the tables and the Redis database itself, before and after, instead of after each
test: every test uses people and WeChat users of its own.

The test process also runs the service in-process (`local`, no listener, no workers, a frozen
clock): to read the database, to register an old ticket and to play another worker once the two
have stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.signing import Credentials, text_message
from core import outbox
from core.calendar import WorkingCalendar
from core.clock import SHANGHAI, FrozenClock
from core.db import transaction
from core.outbox import Draft, OutboxMessage
from core.settings import REPO_ROOT, load_settings
from hotline import tickets
from hotline.models import Handoff, Supervision, Ticket
from hotline.service import context
from server import create_app
from tests.fake_wechat import FakeWeChat, start_fake_wechat
from tests.hotline_helpers import PASSWORD, add_staff
from tests.identity_numbers import id_check_char
from tests.personal_space_helpers import SECRETS, bind, event_id, licence, login, signed
from tests.processes import ServiceProcess, ServiceProcesses
from tests.row_counts import count_rows

# The first test to run also waits for the four processes to start.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

TOKEN = "multiprocess-webhook-token"
ACCOUNT = "gh_multiprocess"
TEMPLATES = {"licence_expiry": "TPL-EXPIRY", "application_state": "TPL-APP", "ticket_progress": "TPL-TICKET",
             "deferred_material": "TPL-DEFER"}
STAGES = (0, 1, 7, 30, 90)  # the default reminder stages of 食品经营许可证
NOT_DUE = (91, 100, 200, 365)  # days to expiry before the first stage: nobody hears today
RATED_APPLICATION = "SX20261101000777"
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def today() -> date:
    return datetime.now(SHANGHAI).date()


def person(n: int) -> dict:
    """A valid 身份证号 (GB 11643 check character), a name and a phone of its own."""
    body = f"42070419900101{n:03d}"
    return {"id_number": body + id_check_char(body), "name": f"市民{n}", "phone": f"139{n:08d}"}


def expiry_text(days: int) -> str:
    return f"食品经营许可证{'今天到期' if days == 0 else f'还有{days}天到期'}，请及时办理延续或换证"


class Server:
    """HTTP to one server process: the aiohttp client shape the shared helpers expect."""

    def __init__(self, process: ServiceProcess):
        self.process = process
        self.http = aiohttp.ClientSession(base_url=process.url, cookie_jar=aiohttp.DummyCookieJar(),
                                          timeout=aiohttp.ClientTimeout(total=10))

    def post(self, path: str, **kwargs):
        return self.http.post(path, **kwargs)

    def get(self, path: str, **kwargs):
        return self.http.get(path, **kwargs)

    async def integration(self, path: str, body: dict, **kwargs):
        """A signed integration call (PRODUCT.md §5), as the back-office systems make it."""
        response = await signed(self, path, body, **kwargs)
        await response.read()  # still readable; the connection goes back to the pool
        return response


@dataclass
class Cluster:
    a: Server
    b: Server
    workers: list[ServiceProcess]
    fake: FakeWeChat
    local: web.Application
    clock: FrozenClock
    reminders: dict[str, str] = field(default_factory=dict)  # openid → the one reminder it should get
    overdue_ticket: str = ""

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.a.process, self.b.process, *self.workers]

    def logged(self, msg: str) -> dict[str, list[dict]]:
        """Log entries with this message, by process name (processes that logged it)."""
        found = {p.name: [e for e in p.log() if e.get("msg") == msg] for p in self.processes}
        return {name: entries for name, entries in found.items() if entries}


def _as_environment(values: dict) -> dict[str, str]:
    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, dict) else str(value)
    return {name.upper(): text(value) for name, value in values.items()}


async def _flush(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def _seed_background_work(cluster: Cluster) -> None:
    """What the workers find when they start: licences reaching a reminder stage today, an overdue
    ticket, a bad rating. Bindings and licences alternate between the two servers."""
    a, b = cluster.a, cluster.b
    day = today()
    for n, days in enumerate([*STAGES * 4, *NOT_DUE], start=1):
        who, openid, server = person(n), f"openid-reminder-{n}", (a, b)[n % 2]
        await bind(server.integration, openid, who)
        valid_until = (day + timedelta(days=days)).isoformat()
        response = await server.integration("/integration/v1/licences",
                                            licence(who, "食品经营许可证", valid_until=valid_until))
        assert response.status == 200, await response.text()
        if days in STAGES:
            cluster.reminders[openid] = expiry_text(days)

    rater = person(200)
    await bind(b.integration, "openid-rater", rater)
    response = await a.integration("/integration/v1/application-events", {
        "event_id": event_id("app"), "application_no": RATED_APPLICATION, "query_password": "839201",
        "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
        "applicant": {"type": "person", "id": rater["id_number"], "name": rater["name"]}, "state": "approved",
        "occurred_at": datetime.now(SHANGHAI).isoformat(), "promised_working_days": 10})
    assert response.status == 200, await response.text()
    headers = await login(a, cluster.fake, "openid-rater")
    async with b.post(f"/api/v1/applications/{RATED_APPLICATION}/rating",
                      json={"level": "不满意", "reason": "窗口人员态度差，材料来回退了三次"},
                      headers={"Authorization": headers["Authorization"]}) as rated:
        assert rated.status == 201, await rated.text()

    cluster.clock.set(datetime.now(SHANGHAI) - timedelta(days=30))  # a phone call taken a month ago
    async with transaction(cluster.local) as session:
        ticket = await tickets.register(session, tickets.NewTicket(
            type="投诉", content="小区门前路灯不亮已经一周，晚上出行不安全。", channel="phone",
            contact_name="赵先生", contact_phone="13912345678"), tickets.Actor("agent", "agent01", "王芳"),
            context(cluster.local))
        cluster.overdue_ticket = ticket.number
    cluster.clock.set(datetime.now(SHANGHAI))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(database_url, suite_redis_url, empty_tables, tmp_path_factory) -> AsyncIterator[Cluster]:
    """Servers a and b, workers w1 and w2, the fake WeChat server they call, the in-process service."""
    await empty_tables()
    await _flush(suite_redis_url)
    values = {"database_url": database_url, "redis_url": suite_redis_url, "migrate_on_start": False,
              "demo_data": False, "run_workers": False, "integration_clients": SECRETS, "wechat_token": TOKEN,
              "notify_channel": "wechat_subscribe", "wechat_templates": TEMPLATES}
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_flush, suite_redis_url)
        stack.push_async_callback(empty_tables)  # runs after everything below has stopped
        fake = await start_fake_wechat()
        stack.push_async_callback(fake.close)
        values |= fake.settings()
        group = await stack.enter_async_context(ServiceProcesses(tmp_path_factory.mktemp("processes")))
        clock = FrozenClock(datetime.now(SHANGHAI))
        runner = web.AppRunner(create_app(load_settings(**values), clock=clock))
        stack.push_async_callback(runner.cleanup)
        # The servers get RUN_WORKERS=false like web-only processes; the worker command runs the work regardless.
        env = _as_environment(values)
        servers = [await group.start_server(name, env) for name in ("a", "b")]
        await runner.setup()  # while they start
        await group.ready(*servers)
        a, b = (Server(p) for p in servers)
        for server in (a, b):
            stack.push_async_callback(server.http.close)
        cluster = Cluster(a, b, [], fake, runner.app, clock)
        await add_staff(cluster.local, "agent-mp", "agent", None)
        await _seed_background_work(cluster)
        cluster.workers = [await group.start_worker("w1", env, probes=True), await group.start_worker("w2", env)]
        await group.ready(*cluster.workers)
        yield cluster


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    """Wait until `check()` holds (the workers poll every two seconds); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def outbox_settled(local: web.Application) -> bool:
    """Nothing waiting to be sent or being sent."""
    waiting = OutboxMessage.state.in_([outbox.CREATED, outbox.TEMPORARY, outbox.SENDING])
    return await count_rows(local, OutboxMessage, waiting) == 0


def subscribe_messages(fake: FakeWeChat, template: str) -> Counter:
    """Subscribe messages the fake WeChat accepted with this template, by recipient openid."""
    return Counter(m["touser"] for m in fake.subscribe_messages if m["template_id"] == template)


class WeChatUser:
    """A WeChat user whose messages WeChat delivers to whichever server it is given."""

    credentials = Credentials(TOKEN)

    def __init__(self, openid: str):
        self.openid = openid

    def text(self, content: str) -> str:
        return text_message(self.openid, ACCOUNT, content, msg_id=next(_msg_ids), create_time=int(time.time()))

    async def deliver(self, server: Server, xml: str) -> bytes:
        """POST the message as WeChat does, signed with a fresh nonce: a retry is known by its MsgId."""
        query, body = self.credentials.sign(xml, timestamp=int(time.time()), openid=self.openid)
        async with server.post("/wechat", params=query, data=body) as response:
            raw = await response.read()
            assert response.status == 200, raw
            return raw

    async def say(self, server: Server, content: str) -> str:
        return self.credentials.open_reply(await self.deliver(server, self.text(content)))["Content"]


# ── the web servers share sessions, conversations and retries ──

async def test_a_session_from_one_server_is_good_on_the_other_and_a_logout_on_one_ends_it_on_both(cluster):
    a, b = cluster.a, cluster.b
    citizen = person(300)
    await bind(b.integration, "openid-session", citizen)
    headers = {"Authorization": (await login(a, cluster.fake, "openid-session"))["Authorization"]}
    async with a.get("/api/v1/me", headers=headers) as on_a, b.get("/api/v1/me", headers=headers) as on_b:
        assert on_a.status == on_b.status == 200
        assert await on_a.json() == await on_b.json()
        assert (await on_b.json())["name"] == citizen["name"]

    async with a.post("/console/api/login", json={"username": "agent-mp", "password": PASSWORD}) as response:
        assert response.status == 200
        cookie = {"Cookie": f"console_session={response.cookies['console_session'].value}"}
    async with b.get("/console/api/me", headers=cookie) as me:
        assert me.status == 200 and (await me.json())["username"] == "agent-mp"
    async with b.post("/console/api/logout", json={}, headers=cookie) as response:
        assert response.status == 200
    async with a.get("/console/api/me", headers=cookie) as after:
        assert after.status == 401 and (await after.json())["error"]["code"] == "session_expired"


async def test_a_complaint_whose_turns_alternate_between_the_servers_files_one_ticket_due_in_five_working_days(
        cluster):
    a, b = cluster.a, cluster.b
    citizen = person(400)
    await bind(a.integration, "openid-complainer", citizen)
    user = WeChatUser("openid-complainer")
    assert "地点" in await user.say(a, "我要投诉，小区楼下的烧烤店每天营业到凌晨两点，油烟噪音扰民")
    assert f"{citizen['phone'][:3]}****{citizen['phone'][-4:]}" in await user.say(b, "滨江路88号")
    assert "匿名" in await user.say(a, "1")
    confirm = await user.say(b, "1")
    assert "请确认" in confirm and "滨江路88号" in confirm
    done = await user.say(a, "1")

    day = today()
    due = WorkingCalendar.load(REPO_ROOT / "config" / "calendar_overrides.yaml").add_working_days(day, 5)
    assert f"按规定将在5个工作日内，即{due.month}月{due.day}日前答复" in done
    async with transaction(cluster.local) as session:
        filed = list(await session.scalars(select(Ticket).where(Ticket.citizen_id == citizen["id_number"])))
    assert [(t.location, t.channel, t.accepted_on, t.due_date) for t in filed] == [("滨江路88号", "wechat", day, due)]
    assert f"工单编号 {filed[0].number}" in done

    await eventually(lambda: outbox_settled(cluster.local), "the registration notice sent")
    assert subscribe_messages(cluster.fake, TEMPLATES["ticket_progress"])["openid-complainer"] == 1


async def test_one_message_sent_to_both_servers_at_once_and_retried_has_one_effect_and_one_reply(cluster):
    a, b = cluster.a, cluster.b
    user = WeChatUser("openid-retried")
    xml = user.text("转人工")
    at_once = await asyncio.gather(*(user.deliver(server, xml) for server in (a, b, a, b)))
    retried = [await user.deliver(server, xml) for server in (b, a)]
    replies = set(at_once + retried)
    assert len(replies) == 1
    assert user.credentials.open_reply(replies.pop())["MsgType"] == "transfer_customer_service"
    async with transaction(cluster.local) as session:
        handoffs = list(await session.scalars(select(Handoff).where(Handoff.openid == "openid-retried")))
    assert len(handoffs) == 1
    assert [line["text"] for line in handoffs[0].transcript if line["from"] == "user"] == ["转人工"]


# ── the workers share the background work ──

async def test_two_workers_send_each_licence_reminder_due_today_exactly_once(cluster):
    fake, expected = cluster.fake, cluster.reminders
    await eventually(lambda: outbox_settled(cluster.local), "the reminders sent")
    assert subscribe_messages(fake, TEMPLATES["licence_expiry"]) == Counter({openid: 1 for openid in expected})
    sent = {m["touser"]: m["data"]["提醒"]["value"] for m in fake.subscribe_messages
            if m["template_id"] == TEMPLATES["licence_expiry"]}
    assert sent == expected
    assert set(cluster.logged("reminders planned")) <= {"w1", "w2"}  # the servers plan nothing
    assert cluster.logged("reminders planned")


async def test_two_workers_raise_one_red_card_one_supervision_and_one_digest_per_recipient(cluster):
    number = cluster.overdue_ticket
    await eventually(lambda: outbox_settled(cluster.local), "the digests sent")
    async with transaction(cluster.local) as session:
        records = [(r.ticket_no, r.kind, r.raised_on) for r in await session.scalars(select(Supervision))]
        card = (await session.get(Ticket, number)).card
        digests = [(m.recipient, m.state, m.data["工单编号"]) for m in await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "ticket_red").order_by(OutboxMessage.recipient))]
    assert records == [(number, "red", today())] and card == "red"
    assert digests == [("staff:hotline", "delivered", number), ("staff:supervisors", "delivered", number)]
    sent = [(name, e["to"]) for name, entries in cluster.logged("notification").items() for e in entries
            if e.get("kind") == "ticket_red"]
    assert sorted(to for _, to in sent) == ["staff:hotline", "staff:supervisors"]  # once each, by a worker
    assert {name for name, _ in sent} <= {"w1", "w2"}
    escalated = [e for entries in cluster.logged("tickets escalated").values() for e in entries]
    assert [e["red"] for e in escalated] == [1]  # one scan raised it; the other found nothing to do


async def test_two_workers_turn_a_bad_rating_into_one_ticket(cluster):
    await eventually(lambda: outbox_settled(cluster.local), "the follow-up notice sent")
    async with transaction(cluster.local) as session:
        opened = list(await session.scalars(select(Ticket).where(Ticket.application_no == RATED_APPLICATION)))
    assert [(t.type, t.channel, t.source_key) for t in opened] == [("投诉", "rating", f"rating:{RATED_APPLICATION}")]
    assert subscribe_messages(cluster.fake, TEMPLATES["ticket_progress"])["openid-rater"] == 1


async def test_a_worker_answers_probes_and_metrics_on_its_port_and_nothing_else(cluster):
    w1 = cluster.workers[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{w1.url}/readyz") as ready:
            assert ready.status == 200
        async with http.get(f"{w1.url}/metrics") as page:
            text = await page.text()
        async with http.get(f"{w1.url}/api/v1/guides", params={"q": "居住证"}) as api:
            assert api.status == 404 and (await api.json())["error"]["code"] == "not_found"
    assert page.status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert "zsb_outbox_messages" in families and "process_resident_memory_bytes" in families
    counted = {(s.labels["route"], s.labels["status"]) for s in families["zsb_http_requests"].samples
               if s.name.endswith("_total")}
    assert counted == {("/readyz", "200")}  # the page counts a request once it is answered


# ── stopping (last: the workers are gone afterwards) ──

async def test_two_workers_take_a_backlog_together_and_stopped_mid_batch_each_finish_the_group_on_the_wire(
        cluster):
    fake, local, clock = cluster.fake, cluster.local, cluster.clock
    await eventually(lambda: outbox_settled(local), "the earlier messages sent")
    fake.delay = 0.5  # each group of eight is on the wire that long: one claim takes seconds to send
    clock.set(datetime.now(SHANGHAI))
    openids = [f"openid-batch-{i}" for i in range(2 * outbox.BATCH)]  # two claims' worth
    async with transaction(local) as session:
        await outbox.enqueue(session, [Draft(f"batch:{openid}", "wechat_subscribe", openid, openid,
                                             "licence_expiry", {"提醒": openid}) for openid in openids], clock.now())

    async def batch() -> list[tuple[str, str, datetime | None]]:
        async with transaction(local) as session:
            rows = await session.execute(select(OutboxMessage.address, OutboxMessage.state, OutboxMessage.leased_until)
                                         .where(OutboxMessage.key.like("batch:%")))
            return [tuple(row) for row in rows]

    # A worker holds one claim at a time: it claims again only once every message of its claim is
    # finished or handed back, each of which clears the lease. So messages on the wire under two
    # leases at once are two workers, each running and each sending its own part of the backlog.
    on_the_wire: dict[datetime, set[str]] = {}

    async def both_workers_sending() -> bool:
        on_the_wire.clear()
        for openid, state, lease in await batch():
            if state == outbox.SENDING:
                on_the_wire.setdefault(lease, set()).add(openid)
        return len(on_the_wire) == 2

    await eventually(both_workers_sending, "both workers sending their part of the batch at once")
    w1, w2 = cluster.workers
    codes = await asyncio.gather(w1.stop(signal.SIGTERM), w2.stop(signal.SIGINT))
    fake.delay = 0
    assert codes == [0, 0]
    assert all(any(e.get("msg") == "worker stopped" for e in w.log()) for w in (w1, w2))
    left = {openid: (state, lease) for openid, state, lease in await batch()}
    assert {state for state, _ in left.values()} == {outbox.DELIVERED, outbox.CREATED}
    for group in on_the_wire.values():  # each worker finished the group it had on the wire
        assert {left[openid][0] for openid in group} == {outbox.DELIVERED}
    handed_back = {openid for openid, (state, _) in left.items() if state == outbox.CREATED}
    assert handed_back  # stopped mid-batch indeed
    assert {lease for _, lease in left.values()} == {None}  # handed back at once: no lease to wait out

    clock.set(datetime.now(SHANGHAI))  # another worker
    while await outbox.run_once(local):
        pass
    after = {openid: state for openid, state, _ in await batch()}
    received = Counter(m["touser"] for m in fake.subscribe_messages if m["touser"] in after)
    assert set(after.values()) == {outbox.DELIVERED} and set(received) == set(openids)
    assert set(received.values()) == {1}  # nothing twice
