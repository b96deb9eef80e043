"""Load and soak: the service as deployed (`python server.py`, workers on, PostgreSQL and Redis)
under a steady, realistic mix for minutes, watching errors, latency and the process's memory.

Run: .venv/bin/python -m bench.load_soak [--seconds 600] [--rate 100] [--connections 64]
     [--warmup 60] [--citizens 600] [--safe] [--seed 1] [--keep-log]
PostgreSQL beside BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test: a
throwaway database is created, migrated by the service on start, and dropped) and Redis at
BENCH_REDIS_URL or redis://127.0.0.1:6379/7 (the keys the run created are removed afterwards).

Where things run. The service is a subprocess started as deployed: `python server.py` with
DATABASE_URL, REDIS_URL, MIGRATE_ON_START, DEMO_DATA, DEMO_LOGIN, RUN_WORKERS (outbox delivery,
reminders, escalation, bad-rating follow-up), NOTIFY_CHANNEL=wechat_subscribe and
WECHAT_API_BASE_URL pointing at a fake WeChat API server (tests/fake_wechat.py), which runs in
this process beside the load generator: it answers wx.login codes and takes the subscribe and
customer-service messages the outbox delivers. The service logs at WARNING to a temporary file,
summarised at the end. Everything shares the machine's cores, which the output says.

Arrivals are open loop: requests start at Poisson arrivals of --rate per second whatever the
service's latency, at most --connections at once (beyond that a request waits for a connection,
and the wait is in its latency). Each arrival picks a channel by weight and gives the turn to a
user of that channel whose think time is over (a conversation's next message, a visit's next
page); when none is, it starts a new journey. The message mix is therefore the journey weights
times the journeys' lengths; the realised shares are printed. The generator measures its own lag
(an arrival's scheduled time to its request leaving): when that grows, the figures describe this
process rather than the service. The default rate, 100/s, is a third of what the 2-core
development machine sustained with nothing else running (300/s: p50 6 ms, p99 195 ms and rising,
the whole machine 86 % busy, PostgreSQL included; at 150/s p99 was 24 ms with 59 % busy): a soak
is about the steady state, and the machine may be shared. The summary says how busy the whole
machine was and how often a task waited for a CPU (/proc/pressure/cpu).

Population, made before the clock starts through the signed integration API as the back office
would: --citizens people with valid 身份证号, each bound to a mini-program openid and an
official-account openid, with an ID card and a driving licence expiring within 0–120 days, a
quarter with an application already accepted; and the demo citizen (DEMO_LOGIN).

Mix, per arrival (channel weights), then per new journey:
  chat /wechat 45      (signed XML as WeChat posts it; think 2–8 s between a user's messages)
    first contact 30   subscribe, then perhaps one greeting, help or out-of-scope question
    guide 30           "我要开饭店需要什么材料" …, every situation question answered, the checklist;
                       half by returning bound users (their "已有，免提交"), half by new ones
    status 20          returning bound users: a ticket or application they own, or 我的证照
    complaint 6        the complaint flow to the end, creating a real ticket (bound users confirm
                       the phone of their binding, new users give one)
    handoff 4          转人工, a relayed message, then 退出
    and 2 % of chat messages are resent as WeChat retries (same MsgId: the same bytes back)
  mini-program /api/v1 36  (think 1–4 s between pages)
    personal 50        wx.login through the fake WeChat (or the saved token; 1 in 10 visits is
                       the demo citizen's demo-login), /me, then documents, applications,
                       reminders or tickets, rating what was concluded or answered
    browse 40          guide search, the scenario and its checklist with answers, items,
                       a deadline from the working-day calendar
    file ticket 5      POST /api/v1/tickets, then the ticket
  console /console/api 12  (think 2–8 s; agent01, supervisor01 and dept-<code>, cookie sessions)
    dispatch 30        the new queue, then up to 3 tickets: read, dispatch to the suggested department
    department 30      a department's unsigned queue, up to 2 tickets: 签收, then 答复
    callback 15        the answered queue, up to 2 tickets: read, 回访, 办结
    supervise 8        KPIs, 督办 records, the overdue and due-soon queues
    search 7           by a caller's phone or a ticket number
    phone call 6       an agent registers a phone call as a ticket
    handoffs 6         the chats waiting for a person, one answered
  integration /integration/v1 4  (back-office pushes; think 5–20 s)
    application 70     a new application: submitted, accepted, in review, approved, issued
    licence 30         a driving licence renewed (a new version with a new expiry)
  deliberately bad input 3  (crawlers, stale clients, typos)

A government channel is mostly citizens chatting and reading; complaints are a few per cent;
the console is a few dozen staff; back-office pushes follow real applications.

Expected answers, per kind (anything else is an error; so is any 5xx or transport failure):
every 2xx named in the journey (200, 201 for filings and show-codes), with the fields the
journey reads; chat replies 200 whose text carries the step's mark (the welcome, 【 of a guide,
请问 or 材料清单, 地点, 手机号, 匿名, 请确认, 工单编号 GD…, 当前状态, 您的证照, a transfer, 已结束人工服务),
never the holding reply (over the 5-second budget) or the failure text; a retry gets the first
reply's bytes; each deliberately bad request its own 4xx (bad signature 403, unknown item 404,
impossible date 400, filing without login 401, empty complaint 400, another's application 404
or 429 once the number's failure budget is spent, a form post to the console 415, an unknown
queue 400); an agent's answer to a chat the citizen has just left is 409 handoff_closed. Every
visitor comes through the reverse proxy (TRUSTED_PROXIES=127.0.0.1) with an X-Forwarded-For of
their own, so per-address limits count visitors, as in production.

Memory: the service's VmRSS (/proc/<pid>/status) every 10 s (every --seconds/30 for runs under
5 minutes). Rule: compare the median of the middle third of the post-warm-up samples with the
median of the last third; more than max(2 MiB, 1 %) higher is "grows" (a process that has
reached its working set is flat by the middle third), otherwise "steady". The least-squares
slope over all post-warm-up samples is printed as MiB/hour beside it.

At the end the outbox backlog (due and undelivered) and the tickets in the database by channel
are compared with what the generator created, after giving the workers up to 75 s (the
bad-rating follow-up runs every minute).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import heapq
import itertools
import json
import os
import random
import re
import shutil
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis

from bench.common import machine, percentile, throwaway_database
from bot.signing import Credentials, event_message, text_message
from bot.webhook import FAILURE_TEXT, HOLDING_TEXT
from core.clock import SHANGHAI
from hotline.demo import DEMO_PASSWORD
from tests.bot_helpers import AES_KEY
from tests.fake_wechat import FakeWeChat, start_fake_wechat
from tests.identity_numbers import id_check_char
from tests.personal_space_helpers import signed_request
from tests.processes import ServiceProcesses

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
TOKEN = "soak-webhook-token"
ACCOUNT = "gh_soak"
CLIENTS = {"idp": "soak-idp-secret-0123456789", "elic": "soak-elic-secret-012345678",
           "accept": "soak-acceptance-secret-0123"}
TEMPLATES = {kind: f"tmpl-{kind}" for kind in ("licence_expiry", "application_state", "deferred_material",
                                                "ticket_progress")}

CHANNELS = {"chat": 45, "mini": 36, "console": 12, "integration": 4, "bad": 3}
JOURNEYS = {
    "chat": {"first_contact": 30, "guide": 30, "status": 20, "complaint": 6, "handoff": 4},
    "mini": {"personal": 50, "browse": 40, "file_ticket": 5},
    "console": {"dispatch": 30, "department": 30, "callback": 15, "supervise": 8, "search": 7, "phone_call": 6,
                "handoffs": 6},
    "integration": {"application": 70, "licence": 30},
    "bad": {"bad_input": 1},
}
THINK = {"chat": (2.0, 8.0), "mini": (1.0, 4.0), "console": (2.0, 8.0), "integration": (5.0, 20.0), "bad": (0, 0)}
RETRY_SHARE = 0.02

FIRST_WORDS = ("你好", "你能做什么", "谢谢", "在吗", "今天天气怎么样")
GUIDE_TEXTS = ("我要开饭店需要什么材料", "居住证怎么办理", "新生儿医保参保需要什么材料", "身份证丢了怎么补办",
               "灵活就业人员怎样办理养老保险参保登记", "个体户营业执照怎么办", "我想开个超市要办什么手续", "孩子出生了要办哪些手续")
GUIDE_QUERIES = ("开饭店", "居住证", "新生儿出生", "医保参保", "营业执照", "公积金提取", "退休", "开超市", "残疾人证",
                 "灵活就业参保", "不动产登记", "食品经营许可")
COMPLAINTS = ("小区门口晚上施工到十二点，噪音扰民一个星期了", "楼下餐馆油烟直排没人管，已经半年了",
              "公交站台的顶棚破了好几个月，下雨天没法等车", "小区路灯坏了一个多月没人修，晚上出行不安全",
              "有人在河道里倾倒建筑垃圾，河水都变色了", "培训机构停课后拒不退费，多次联系都没有结果",
              "建议在市民中心增设夜间自助办理区，方便上班族")
LOCATIONS = ("滨江路88号", "寿昌大道与南浦路交叉口", "凤凰街道明塘小区3栋", "古楼街道十里铺社区", "跳过")
REPLIES = ("已安排工作人员现场核查，问题已处理，感谢您的监督。", "经核实，已责令相关单位限期整改，并将持续跟踪。",
           "已联系物业和社区，三日内修复完毕。")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
TICKET_NO = re.compile(r"工单编号 (GD\d{14})")


class Unexpected(Exception):
    """An answer that is not the expected one: the reason is the error's label."""


class Abort(Exception):
    """The journey cannot go on (its last request failed)."""


# --- the people ------------------------------------------------------------------------------


@dataclass(eq=False)
class Citizen:
    id_number: str
    name: str
    phone: str
    mp_openid: str  # the mini-program's openid
    oa_openid: str  # the official account's openid (bot)
    token: str | None = None
    busy: set[str] = field(default_factory=set)  # channels this person is in a journey on
    tickets: list[str] = field(default_factory=list)
    applications: dict[str, str] = field(default_factory=dict)  # number -> query password
    rated: set[str] = field(default_factory=set)


def id_number(rng: random.Random) -> str:
    """A 居民身份证号 with a valid birth date and check character (GB 11643)."""
    region = rng.choice(("420704", "420702", "420703", "110105", "440106"))
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    body = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + id_check_char(body)


def make_citizens(count: int, run: str, rng: random.Random) -> list[Citizen]:
    seen: set[str] = set()
    people = []
    while len(people) < count:
        number = id_number(rng)
        if number in seen:
            continue
        seen.add(number)
        n = len(people)
        people.append(Citizen(number, rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)),
                              f"1{rng.choice('3578')}{rng.randrange(10**9):09d}", f"mp-{run}-{n}", f"oa-{run}-{n}"))
    return people


# --- what was measured -----------------------------------------------------------------------


@dataclass
class KindStats:
    latencies: list[float] = field(default_factory=list)  # ms, measured window only
    errors: Counter = field(default_factory=Counter)


class Recorder:
    """Latencies, errors and the generator's lag of the requests scheduled in the measured window."""

    def __init__(self, bucket_seconds: float):
        self.start = self.end = float("inf")
        self.bucket_seconds = bucket_seconds
        self.kinds: dict[str, KindStats] = defaultdict(KindStats)
        self.lags: list[float] = []
        self.buckets: dict[int, list[float]] = defaultdict(list)
        self.bucket_errors: Counter = Counter()
        self.examples: dict[tuple[str, str], str] = {}
        self.slowest: list[tuple[float, float, str]] = []  # (ms, seconds into the window, kind): a min-heap
        self.in_flight = self.peak_in_flight = 0
        self.granted = 0  # turns given to journeys whose request has not left yet
        self.unused_turns = 0
        self.generator_bugs: Counter = Counter()

    def measured(self, scheduled: float) -> bool:
        return self.start <= scheduled < self.end

    def record(self, kind: str, scheduled: float, lag: float, latency: float, problem: str | None,
               detail: str = "") -> None:
        if not self.measured(scheduled):
            return
        stats = self.kinds[kind]
        stats.latencies.append(latency * 1000)
        self.lags.append(lag * 1000)
        bucket = int((scheduled - self.start) // self.bucket_seconds)
        self.buckets[bucket].append(latency * 1000)
        entry = (latency * 1000, scheduled - self.start, kind)
        if len(self.slowest) < 12:
            heapq.heappush(self.slowest, entry)
        elif entry > self.slowest[0]:
            heapq.heapreplace(self.slowest, entry)
        if problem:
            stats.errors[problem] += 1
            self.bucket_errors[bucket] += 1
            self.examples.setdefault((kind, problem), detail[:300])


@dataclass
class Answer:
    status: int
    raw: bytes
    headers: dict[str, str]
    cookies: dict[str, str]

    def json(self):
        return orjson.loads(self.raw)


# --- turns: who speaks at the next arrival ----------------------------------------------------


class Dispatcher:
    """Turns scheduled arrivals into requests: the next ready journey of the channel, or a new one."""

    def __init__(self, soak: Soak, rng: random.Random):
        self.soak, self.rng = soak, rng
        self.ready: dict[str, list] = {c: [] for c in CHANNELS}
        self.order = itertools.count()
        self.tasks: set[asyncio.Task] = set()
        self.channels, self.channel_weights = list(CHANNELS), list(itertools.accumulate(CHANNELS.values()))

    def wait(self, channel: str, think: float) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self.ready[channel], (time.monotonic() + think, next(self.order), future))
        return future

    def arrive(self, scheduled: float) -> None:
        channel = self.channels[bisect.bisect(self.channel_weights, self.rng.random() * self.channel_weights[-1])]
        heap, now = self.ready[channel], time.monotonic()
        while heap and heap[0][0] <= now:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(scheduled)
                self.soak.recorder.granted += 1
                return
        names, weights = zip(*JOURNEYS[channel].items())
        name = self.rng.choices(names, weights)[0]
        journey = Journey(self.soak, channel, scheduled)
        self.soak.recorder.granted += 1
        task = asyncio.create_task(self._run(name, journey))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, name: str, journey: Journey) -> None:
        try:
            await getattr(self.soak, f"journey_{name}")(journey)
        except Abort:
            pass
        except Exception:  # noqa: BLE001 - a generator bug must not stop the run; it is reported
            self.soak.recorder.generator_bugs[traceback.format_exc(limit=3)] += 1
        finally:
            if journey.granted is not None:
                self.soak.recorder.unused_turns += 1
                self.soak.recorder.granted -= 1

    async def drive(self, seconds: float, rate: float) -> None:
        """Poisson arrivals at `rate` per second for `seconds`."""
        began = time.monotonic()
        at = began
        while True:
            at += self.rng.expovariate(rate)
            if at - began >= seconds:
                return
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.arrive(at)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Journey:
    """One user's visit: each request waits for an arrival given to it."""

    def __init__(self, soak: Soak, channel: str, first_turn: float):
        self.soak, self.channel, self.granted = soak, channel, first_turn
        self.held: list[Citizen] = []
        # Behind the reverse proxy (TRUSTED_PROXIES) each visitor has an address of their own.
        self.address = f"10.{soak.rng.randrange(256)}.{soak.rng.randrange(256)}.{soak.rng.randrange(1, 255)}"

    async def turn(self) -> float:
        if self.granted is None:
            low, high = THINK[self.channel]
            self.granted = await self.soak.dispatcher.wait(self.channel, self.soak.rng.uniform(low, high))
        scheduled, self.granted = self.granted, None
        self.soak.recorder.granted -= 1
        return scheduled

    async def call(self, kind: str, method: str, path: str, *, expect: int | tuple[int, ...] = 200, check=None,
                   build=None, **kwargs):
        """Wait for a turn, send, time, check. `expect` is the status (or the statuses) that answer
        rightly. Returns what `check` makes of the answer (or the answer); raises Abort after
        recording an error."""
        soak, recorder = self.soak, self.soak.recorder
        scheduled = await self.turn()
        if build is not None:
            kwargs.update(build())  # signatures and timestamps as of the moment it leaves
        kwargs["headers"] = {**kwargs.get("headers", {}), "X-Forwarded-For": self.address}
        issued = time.monotonic()
        lag = issued - scheduled
        recorder.in_flight += 1
        recorder.peak_in_flight = max(recorder.peak_in_flight, recorder.in_flight)
        try:
            async with soak.http.request(method, soak.base + path, **kwargs) as response:
                answer = Answer(response.status, await response.read(), dict(response.headers),
                                {k: v.value for k, v in response.cookies.items()})
        except (aiohttp.ClientError, TimeoutError) as exc:
            recorder.record(kind, scheduled, lag, time.monotonic() - issued, f"transport: {type(exc).__name__}",
                            str(exc))
            raise Abort from None
        finally:
            recorder.in_flight -= 1
        latency = time.monotonic() - issued
        problem, value = None, answer
        if answer.status not in (expect if isinstance(expect, tuple) else (expect,)):
            problem = f"HTTP {answer.status} (expected {expect})"
        elif check is not None:
            try:
                value = check(answer)
            except Unexpected as exc:
                problem = str(exc)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                problem = f"unreadable answer: {type(exc).__name__}"
        detail = f"{method} {path} request-id {answer.headers.get('X-Request-Id', '-')}: " \
                 f"{answer.raw[:200].decode(errors='replace')}"
        recorder.record(kind, scheduled, lag, latency, problem, detail)
        if problem:
            raise Abort
        return value


def _take(citizen: Citizen | None, journey: Journey) -> Citizen | None:
    if citizen is not None:
        citizen.busy.add(journey.channel)
        journey.held.append(citizen)
    return citizen


# --- the service ------------------------------------------------------------------------------


def service_settings(database_url: str, fake: FakeWeChat, safe: bool) -> dict[str, str]:
    """The environment of the service as deployed, workers on, calling the fake WeChat."""
    settings = {
        "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "MIGRATE_ON_START": "true", "DEMO_DATA": "true",
        "DEMO_LOGIN": "true", "RUN_WORKERS": "true", "LOG_LEVEL": "WARNING", "WECHAT_TOKEN": TOKEN,
        "WECHAT_API_BASE_URL": fake.base_url, "WECHAT_APP_ID": fake.app_id, "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_MINIAPP_ID": fake.miniapp_id, "WECHAT_MINIAPP_SECRET": fake.miniapp_secret,
        "INTEGRATION_CLIENTS": json.dumps(CLIENTS), "NOTIFY_CHANNEL": "wechat_subscribe",
        "WECHAT_TEMPLATES": json.dumps(TEMPLATES), "TRUSTED_PROXIES": "127.0.0.1"}
    if safe:
        settings["WECHAT_AES_KEY"] = AES_KEY
    return settings


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float, float]:
    """(busy jiffies, all jiffies) over every core from /proc/stat, and the microseconds some task
    waited for a CPU (/proc/pressure/cpu; 0 where the kernel has no PSI): the machine's sharing."""
    jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    waited = 0.0
    with contextlib.suppress(OSError, ValueError):
        waited = float(Path("/proc/pressure/cpu").read_text().split("total=", 1)[1].split()[0])
    return sum(jiffies) - jiffies[3] - jiffies[4], sum(jiffies), waited


def log_summary(log_path: Path) -> list[str]:
    """The service's warnings and errors, grouped by logger and message."""
    grouped: Counter = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            grouped[(record.get("level", "?"), record.get("logger", "?"), record.get("msg", "")[:100])] += 1
        except (ValueError, AttributeError):
            if line.strip():
                grouped[("raw", "-", line[:100])] += 1
    return [f"{n:>7,}  {level} {logger}: {msg}" for (level, logger, msg), n in grouped.most_common(12)]


# --- the generator ----------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, run: str, base: str, http: aiohttp.ClientSession,
                 fake: FakeWeChat, recorder: Recorder):
        self.args, self.run, self.base, self.http, self.fake = args, run, base, http, fake
        self.recorder = recorder
        self.rng = random.Random(args.seed)
        self.credentials = Credentials(TOKEN, AES_KEY if args.safe else None, fake.app_id)
        self.citizens = make_citizens(args.citizens, run, self.rng)
        self.dispatcher = Dispatcher(self, self.rng)
        self.msg_ids = itertools.count(10**15 + self.rng.randrange(10**12))
        self.serial = itertools.count(1)
        self.scenarios: list[str] = []
        self.item_codes: list[str] = []
        self.departments: list[str] = []
        self.console_cookies: dict[str, str] = {}
        self.console_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Tickets a console journey took at each stage (dispatch, sign, callback): two agents never
        # take the same one, even from a page read before the other one's action.
        self.claimed: dict[str, set[str]] = defaultdict(set)
        self.handoffs_taken: set[int] = set()
        self.dispatched: Counter = Counter()  # department -> tickets dispatched to it, not yet signed here
        self.created: Counter = Counter()  # tickets created, by channel (all phases)
        self.bad_app_ratings = 0
        self.forged = 0  # webhook requests sent with a forged signature (the service logs each refusal)

    # helpers

    def free_citizen(self, channel: str) -> Citizen | None:
        for _ in range(8):
            citizen = self.rng.choice(self.citizens)
            if channel not in citizen.busy:
                return citizen
        return None

    def release(self, journey: Journey) -> None:
        for citizen in journey.held:
            citizen.busy.discard(journey.channel)

    def today(self) -> date:
        return datetime.now(SHANGHAI).date()

    @staticmethod
    def _signed(path: str, body: dict, client: str) -> dict:
        """The keywords of a POST of `body` to `path`, signed now as back-office system `client`."""
        raw, headers = signed_request(path, body, client_id=client, secret=CLIENTS[client])
        return {"data": raw, "headers": headers}

    async def push(self, path: str, body: dict, client: str) -> None:
        """An unmeasured integration push (the population)."""
        async with self.http.post(self.base + path, **self._signed(path, body, client)) as response:
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status} {await response.text()}")

    def _event_id(self, prefix: str) -> str:
        return f"{prefix}-{self.run}-{next(self.serial)}"

    def _licence(self, citizen: Citizen, kind: str, licence_id: str, version: int, valid_until: date | None) -> dict:
        return {"event_id": self._event_id("lic"), "licence_id": licence_id, "version": version, "kind": kind,
                "number": citizen.id_number if kind != "机动车驾驶证" else f"{citizen.id_number}-{version}",
                "holder": {"type": "person", "id": citizen.id_number, "name": citizen.name},
                "issuer": "鄂州市公安局", "issued_on": None,
                "valid_until": valid_until.isoformat() if valid_until else None, "status": "valid"}

    def _application_event(self, citizen: Citizen, number: str, state: str, first: bool) -> dict:
        body = {"event_id": self._event_id("app"), "application_no": number, "item_code": "SOAK-ITEM-01",
                "item_name": "机动车驾驶证换证", "department": "市公安局交通管理支队",
                "applicant": {"type": "person", "id": citizen.id_number, "name": citizen.name}, "state": state,
                "occurred_at": datetime.now(SHANGHAI).isoformat(), "promised_working_days": 10}
        if first:
            body["query_password"] = citizen.applications[number]
        return body

    def _new_application(self, citizen: Citizen) -> str:
        number = f"SX{self.today():%Y%m%d}{next(self.serial) % 10**6:06d}"
        citizen.applications[number] = f"{self.rng.randrange(10**6):06d}"
        return number

    async def populate(self) -> int:
        """The citizens, their bindings, licences and some applications, before the clock starts.
        One person's pushes go one after another, as each back-office system sends them."""
        today = self.today()
        people: list[list[tuple[str, dict, str]]] = []
        for citizen in self.citizens:
            jobs = [("/integration/v1/identity-bindings",
                     {"event_id": self._event_id("idp"), "openid": openid, "id_number": citizen.id_number,
                      "name": citizen.name, "phone": citizen.phone}, "idp")
                    for openid in (citizen.mp_openid, citizen.oa_openid)]
            jobs.append(("/integration/v1/licences",
                         self._licence(citizen, "居民身份证", f"id-{citizen.id_number}", 1, date(2036, 5, 1)), "elic"))
            jobs.append(("/integration/v1/licences",
                         self._licence(citizen, "机动车驾驶证", f"dl-{citizen.id_number}", 1,
                                       today + timedelta(days=self.rng.randrange(121))), "elic"))
            if self.rng.random() < 0.25:
                number = self._new_application(citizen)
                jobs.append(("/integration/v1/application-events",
                             self._application_event(citizen, number, "accepted", True), "accept"))
            people.append(jobs)
        waiting = iter(people)

        async def worker() -> None:
            for jobs in waiting:
                for job in jobs:
                    await self.push(*job)

        await asyncio.gather(*(worker() for _ in range(8)))
        async with self.http.get(self.base + "/api/v1/scenarios") as response:
            self.scenarios = [s["id"] for s in await response.json()]
        for q in GUIDE_QUERIES:
            async with self.http.get(self.base + "/api/v1/guides", params={"q": q, "limit": 10}) as response:
                self.item_codes += [h["id"] for h in (await response.json())["results"] if h["kind"] == "item"]
        self.item_codes = sorted(set(self.item_codes))
        return sum(len(jobs) for jobs in people)

    # --- chat -----------------------------------------------------------------------------

    async def say(self, journey: Journey, kind: str, openid: str, text: str | None = None, *, event: str | None = None,
                  key: str | None = None, marks: tuple[str, ...] = (), then=None) -> str:
        """One message as WeChat posts it; the reply's text ("[transfer]" for a transfer), also
        given to `then` before a retry (if any) waits for its turn."""
        msg_id = next(self.msg_ids)
        sent: dict = {}

        def build() -> dict:
            now = int(time.time())
            if event is not None:
                xml = event_message(openid, ACCOUNT, event, create_time=now, event_key=key)
            else:
                xml = text_message(openid, ACCOUNT, text, msg_id=msg_id, create_time=now)
            query, body = self.credentials.sign(xml, timestamp=now, openid=openid)
            sent.update(params=query, data=body)
            return dict(sent)

        def check(answer: Answer) -> str:
            fields = self.credentials.open_reply(answer.raw)
            if fields is None:
                raise Unexpected("empty reply")
            transfer = fields.get("MsgType") == "transfer_customer_service"
            content = "[transfer]" if transfer else fields.get("Content", "")
            if content == HOLDING_TEXT:
                raise Unexpected("holding reply (over the 5 s budget)")
            if content == FAILURE_TEXT:
                raise Unexpected("failure text")
            if not content or marks and not any(mark in content for mark in marks):
                raise Unexpected(f"unexpected reply ({kind})")
            return content

        first: list[bytes] = []

        def checked(answer: Answer) -> str:
            first.append(answer.raw)
            return check(answer)
        reply = await journey.call(kind, "POST", "/wechat", build=build, check=checked)
        if then is not None:
            then(reply)
        if self.rng.random() < RETRY_SHARE:
            def same(answer: Answer) -> None:
                if answer.raw != first[0]:
                    raise Unexpected("retry answered differently")
            await journey.call("chat: WeChat retry (same MsgId)", "POST", "/wechat", check=same, build=lambda: sent)
        return reply

    def new_openid(self) -> str:
        return f"wx-{self.run}-{next(self.serial)}"

    async def journey_first_contact(self, journey: Journey) -> None:
        openid = self.new_openid()
        await self.say(journey, "chat: first contact", openid, event="subscribe", marks=("欢迎使用",))
        if self.rng.random() < 0.5:
            await self.say(journey, "chat: first contact", openid, self.rng.choice(FIRST_WORDS))

    async def journey_guide(self, journey: Journey) -> None:
        citizen = _take(self.free_citizen("chat") if self.rng.random() < 0.5 else None, journey)
        openid = citizen.oa_openid if citizen else self.new_openid()
        try:
            reply = await self.say(journey, "chat: guide", openid, self.rng.choice(GUIDE_TEXTS), marks=("【",))
            for _ in range(12):
                if "请问" not in reply:
                    break
                options = len(re.findall(r"^\d+\. ", reply.split("请问", 1)[1], re.M))
                reply = await self.say(journey, "chat: guide", openid, str(self.rng.randint(1, max(1, options))),
                                       marks=("请问", "材料清单"))
        finally:
            self.release(journey)

    async def journey_status(self, journey: Journey) -> None:
        citizen = _take(self.free_citizen("chat"), journey)
        if citizen is None:
            return await self.journey_first_contact(journey)
        try:
            if citizen.tickets and self.rng.random() < 0.6:
                text = f"{self.rng.choice(citizen.tickets)}办得怎么样了"
                await self.say(journey, "chat: status", citizen.oa_openid, text, marks=("当前状态",))
            elif citizen.applications and self.rng.random() < 0.7:
                text = f"查询办件{self.rng.choice(list(citizen.applications))}"
                await self.say(journey, "chat: status", citizen.oa_openid, text, marks=("当前状态",))
            elif self.rng.random() < 0.5:
                await self.say(journey, "chat: status", citizen.oa_openid, event="CLICK", key="MENU_DOCUMENTS",
                               marks=("您的证照",))
            else:
                await self.say(journey, "chat: status", citizen.oa_openid, "我的证照", marks=("您的证照",))
        finally:
            self.release(journey)

    async def journey_complaint(self, journey: Journey) -> None:
        citizen = _take(self.free_citizen("chat") if self.rng.random() < 0.6 else None, journey)
        kind = "chat: complaint"
        try:
            if citizen is not None:
                openid = citizen.oa_openid
                await self.say(journey, kind, openid, "我要投诉，" + self.rng.choice(COMPLAINTS), marks=("地点",))
                await self.say(journey, kind, openid, self.rng.choice(LOCATIONS), marks=("手机号",))
                await self.say(journey, kind, openid, "1", marks=("匿名",))
            else:
                openid = self.new_openid()
                await self.say(journey, kind, openid, "我要投诉", marks=("请描述",))
                await self.say(journey, kind, openid, self.rng.choice(COMPLAINTS), marks=("地点",))
                await self.say(journey, kind, openid, self.rng.choice(LOCATIONS), marks=("手机号",))
                await self.say(journey, kind, openid, f"1{self.rng.choice('3578')}{self.rng.randrange(10**9):09d}",
                               marks=("匿名",))
            await self.say(journey, kind, openid, self.rng.choice("12"), marks=("请确认",))
            def filed(reply: str) -> None:
                self.created["wechat"] += 1
                if citizen is not None and (found := TICKET_NO.search(reply)):
                    citizen.tickets.append(found.group(1))
            await self.say(journey, kind, openid, "1", marks=("工单编号 GD",), then=filed)
        finally:
            self.release(journey)

    async def journey_handoff(self, journey: Journey) -> None:
        openid = self.new_openid()
        await self.say(journey, "chat: handoff", openid, "你好")
        await self.say(journey, "chat: handoff", openid, "转人工", marks=("[transfer]",))
        if self.rng.random() < 0.5:
            await self.say(journey, "chat: handoff", openid, "我的社保卡丢了怎么办", marks=("[transfer]",))
        await self.say(journey, "chat: handoff", openid, "退出", marks=("已结束人工服务",))

    # --- mini-program -----------------------------------------------------------------------

    @staticmethod
    def _bearer(token: str) -> dict:
        return {"headers": {"Authorization": f"Bearer {token}"}}

    async def _login(self, journey: Journey, citizen: Citizen | None) -> str:
        def token_of(answer: Answer) -> str:
            body = answer.json()
            if body["bound"] is not True:
                raise Unexpected("logged in unbound")
            return body["token"]

        if citizen is None:
            return await journey.call("mini: login (demo citizen)", "POST", "/api/v1/auth/demo-login", check=token_of)
        if citizen.token is None or self.rng.random() < 0.3:
            code = f"code-{self.run}-{next(self.serial)}"
            self.fake.add_code(code, citizen.mp_openid)
            citizen.token = await journey.call("mini: login (wx.login code)", "POST", "/api/v1/auth/login",
                                               json={"code": code}, check=token_of)
        return citizen.token

    async def journey_personal(self, journey: Journey) -> None:
        citizen = _take(self.free_citizen("mini") if self.rng.random() < 0.9 else None, journey)
        try:
            auth = self._bearer(await self._login(journey, citizen))

            def me(answer: Answer) -> None:
                if answer.json()["bound"] is not True:
                    raise Unexpected("not bound")
            await journey.call("mini: /me", "GET", "/api/v1/me", check=me, **auth)
            for page in self.rng.sample(("documents", "applications", "reminders", "tickets"), 2):
                await getattr(self, f"_mini_{page}")(journey, citizen, auth)
        finally:
            self.release(journey)

    async def _mini_documents(self, journey: Journey, citizen: Citizen | None, auth: dict) -> None:
        def listed(answer: Answer) -> list:
            found = answer.json()
            if not found:
                raise Unexpected("no documents")
            return found
        found = await journey.call("mini: me/documents", "GET", "/api/v1/me/documents", check=listed, **auth)
        if self.rng.random() < 0.5:
            await journey.call("mini: me/documents", "GET", f"/api/v1/me/documents/{self.rng.choice(found)['id']}",
                               **auth)

    async def _mini_applications(self, journey: Journey, citizen: Citizen | None, auth: dict) -> None:
        found = await journey.call("mini: me/applications", "GET", "/api/v1/me/applications",
                                   check=lambda a: a.json(), **auth)
        if citizen is None or not found:
            return
        application = self.rng.choice(found)
        number = application["application_no"]
        await journey.call("mini: me/applications", "GET", f"/api/v1/applications/{number}", **auth)
        if application["state"] in ("approved", "rejected", "issued") and number not in citizen.rated:
            bad = self.rng.random() < 0.15
            body = {"level": "不满意", "reason": "等了很久才办好，中间没人通知进度"} if bad else {"level": "满意"}
            citizen.rated.add(number)
            await journey.call("mini: rate (好差评)", "POST", f"/api/v1/applications/{number}/rating", expect=201,
                               json=body, **auth)
            self.bad_app_ratings += bad

    async def _mini_reminders(self, journey: Journey, citizen: Citizen | None, auth: dict) -> None:
        await journey.call("mini: me/reminders", "GET", "/api/v1/me/reminders", check=lambda a: a.json(), **auth)

    async def _mini_tickets(self, journey: Journey, citizen: Citizen | None, auth: dict) -> None:
        found = await journey.call("mini: me/tickets", "GET", "/api/v1/me/tickets", check=lambda a: a.json(), **auth)
        if not found:
            return
        ticket = await journey.call("mini: me/tickets", "GET", f"/api/v1/tickets/{self.rng.choice(found)['number']}",
                                    check=lambda a: a.json(), **auth)
        if ticket["can_rate"] and citizen is not None:
            level = self.rng.choice(("非常满意", "满意", "满意", "基本满意", "不满意"))
            body = {"level": level, "comment": "问题还没有彻底解决" if level == "不满意" else None}
            await journey.call("mini: rate (好差评)", "POST", f"/api/v1/tickets/{ticket['number']}/rating", json=body,
                               **auth)

    async def journey_browse(self, journey: Journey) -> None:
        hits = await journey.call("mini: guides search", "GET", "/api/v1/guides",
                                  params={"q": self.rng.choice(GUIDE_QUERIES)}, check=lambda a: a.json()["results"])
        scenario = next((h["id"] for h in hits if h["kind"] == "scenario"), None) or self.rng.choice(self.scenarios)
        detail = await journey.call("mini: scenarios", "GET", f"/api/v1/scenarios/{scenario}", check=lambda a: a.json())
        answers = {q["id"]: self.rng.choice(q["options"])["id"] for q in detail["questions"]}

        def merged(answer: Answer) -> None:
            if not answer.json()["materials"]:
                raise Unexpected("empty checklist")
        await journey.call("mini: checklist", "POST", f"/api/v1/scenarios/{scenario}/checklist",
                           json={"answers": answers}, check=merged)
        if self.rng.random() < 0.5 and self.item_codes:
            await journey.call("mini: items", "GET", f"/api/v1/items/{self.rng.choice(self.item_codes)}")
        if self.rng.random() < 0.3:
            await journey.call("mini: calendar deadline", "GET", "/api/v1/calendar/deadline",
                               params={"from": self.today().isoformat(), "working_days": self.rng.randint(1, 20)},
                               check=lambda a: a.json()["due_date"])

    async def journey_file_ticket(self, journey: Journey) -> None:
        citizen = _take(self.free_citizen("mini"), journey)
        if citizen is None:
            return await self.journey_browse(journey)
        try:
            auth = self._bearer(await self._login(journey, citizen))
            body = {"type": self.rng.choice(("投诉", "投诉", "求助", "建议")), "content": self.rng.choice(COMPLAINTS),
                    "location": self.rng.choice(LOCATIONS[:-1]), "anonymous": self.rng.random() < 0.2}

            def filed(answer: Answer) -> str:
                number = answer.json()["number"]
                if not number.startswith("GD"):
                    raise Unexpected("no ticket number")
                return number
            number = await journey.call("mini: file ticket", "POST", "/api/v1/tickets", expect=201, json=body,
                                        check=filed, **auth)
            self.created["miniapp"] += 1
            citizen.tickets.append(number)
            await journey.call("mini: me/tickets", "GET", f"/api/v1/tickets/{number}", **auth)
        finally:
            self.release(journey)

    # --- console ----------------------------------------------------------------------------

    async def _staff(self, journey: Journey, username: str) -> dict:
        """The staff member's cookie, logging in first when there is none yet."""
        async with self.console_locks[username]:
            if username not in self.console_cookies:
                def cookie(answer: Answer) -> str:
                    return answer.cookies["console_session"]
                self.console_cookies[username] = await journey.call(
                    "console: login", "POST", "/console/api/login", json={"username": username, "password": DEMO_PASSWORD},
                    check=cookie)
                if not self.departments:
                    meta = await journey.call("console: meta", "GET", "/console/api/meta",
                                              check=lambda a: a.json(), **self._cookie(username))
                    self.departments = [d["code"] for d in meta["departments"]]
        return self._cookie(username)

    def _cookie(self, username: str) -> dict:
        return {"headers": {"Cookie": f"console_session={self.console_cookies[username]}"}}

    async def _queue(self, journey: Journey, auth: dict, name: str, **params) -> list[dict]:
        return await journey.call("console: queues", "GET", f"/console/api/queues/{name}", params=params,
                                  check=lambda a: a.json()["tickets"], **auth)

    def _claim(self, stage: str, tickets: list[dict], limit: int) -> list[str]:
        numbers = [t["number"] for t in tickets if t["number"] not in self.claimed[stage]][:limit]
        self.claimed[stage].update(numbers)
        return numbers

    @contextlib.contextmanager
    def _working_on(self, stage: str, numbers: list[str]):
        """Yields the list of those done; the others are given back when the journey ends."""
        done: list[str] = []
        try:
            yield done
        finally:
            self.claimed[stage].difference_update(set(numbers) - set(done))

    async def _act(self, journey: Journey, auth: dict, number: str, action: str, body: dict) -> dict:
        return await journey.call("console: ticket actions", "POST",
                                  f"/console/api/tickets/{number}/actions/{action}", json=body,
                                  check=lambda a: a.json(), **auth)

    async def journey_dispatch(self, journey: Journey) -> None:
        auth = await self._staff(journey, "agent01")
        numbers = self._claim("dispatch", await self._queue(journey, auth, "new"), self.rng.randint(1, 3))
        with self._working_on("dispatch", numbers) as done:
            for number in numbers:
                detail = await journey.call("console: ticket", "GET", f"/console/api/tickets/{number}",
                                            check=lambda a: a.json(), **auth)
                suggested = [s["department"] for s in detail["suggestions"] if s["department"]]
                department = suggested[0] if suggested else self.rng.choice(self.departments)
                await self._act(journey, auth, number, "dispatch", {"department": department})
                self.dispatched[department] += 1
                done.append(number)

    async def journey_department(self, journey: Journey) -> None:
        waiting = [d for d, n in self.dispatched.items() if n > 0]
        department = self.rng.choice(waiting) if waiting else self.rng.choice(self.departments or ["cgj"])
        auth = await self._staff(journey, f"dept-{department}")
        numbers = self._claim("sign", await self._queue(journey, auth, "unsigned"), self.rng.randint(1, 2))
        with self._working_on("sign", numbers) as done:
            for number in numbers:
                await self._act(journey, auth, number, "sign", {})
                self.dispatched[department] -= 1
                done.append(number)
                await self._act(journey, auth, number, "reply", {"reply": self.rng.choice(REPLIES)})

    async def journey_callback(self, journey: Journey) -> None:
        auth = await self._staff(journey, "agent01")
        numbers = self._claim("callback", await self._queue(journey, auth, "answered"), self.rng.randint(1, 2))
        with self._working_on("callback", numbers) as done:
            for number in numbers:
                await journey.call("console: ticket", "GET", f"/console/api/tickets/{number}", **auth)
                await self._act(journey, auth, number, "callback", {"note": "已回访，市民表示满意", "reached": True})
                done.append(number)
                await self._act(journey, auth, number, "close", {})

    async def journey_supervise(self, journey: Journey) -> None:
        auth = await self._staff(journey, "supervisor01")
        await journey.call("console: KPIs and 督办", "GET", "/console/api/kpis", check=lambda a: a.json(), **auth)
        await journey.call("console: KPIs and 督办", "GET", "/console/api/supervisions", check=lambda a: a.json(),
                           **auth)
        await self._queue(journey, auth, self.rng.choice(("overdue", "due_soon", "department")))

    async def journey_search(self, journey: Journey) -> None:
        auth = await self._staff(journey, "agent01")
        citizen = self.rng.choice(self.citizens)
        q = self.rng.choice(citizen.tickets) if citizen.tickets and self.rng.random() < 0.5 else citizen.phone
        await journey.call("console: search", "GET", "/console/api/search", params={"q": q},
                           check=lambda a: a.json()["tickets"], **auth)

    async def journey_phone_call(self, journey: Journey) -> None:
        auth = await self._staff(journey, "agent01")
        body = {"type": self.rng.choice(("咨询", "求助", "投诉", "建议")), "content": self.rng.choice(COMPLAINTS),
                "contact_name": self.rng.choice(SURNAMES) + "先生",
                "contact_phone": f"1{self.rng.choice('3578')}{self.rng.randrange(10**9):09d}",
                "location": self.rng.choice(LOCATIONS[:-1])}
        await journey.call("console: register phone call", "POST", "/console/api/tickets", expect=201, json=body,
                           check=lambda a: a.json()["number"], **auth)
        self.created["phone"] += 1

    async def journey_handoffs(self, journey: Journey) -> None:
        auth = await self._staff(journey, "agent01")
        waiting = await journey.call("console: handoffs", "GET", "/console/api/handoffs", check=lambda a: a.json(),
                                     **auth)
        open_ones = [h["id"] for h in waiting if h["state"] == "waiting" and h["id"] not in self.handoffs_taken]
        if open_ones:
            handoff = open_ones[0]
            self.handoffs_taken.add(handoff)

            def answered(answer: Answer) -> None:
                # The citizen may leave (退出) while the agent types: that answer is right too.
                if answer.status == 409 and answer.json()["error"]["code"] != "handoff_closed":
                    raise Unexpected("409 other than handoff_closed")
            await journey.call("console: handoffs", "POST", f"/console/api/handoffs/{handoff}/reply",
                               expect=(200, 409), json={"text": "您好，社保卡挂失补办可在小程序“社保服务”中办理，也可到就近网点。"},
                               check=answered, **auth)

    # --- back office and bad input ----------------------------------------------------------

    async def journey_application(self, journey: Journey) -> None:
        citizen = self.rng.choice(self.citizens)
        number = self._new_application(citizen)
        path = "/integration/v1/application-events"
        for n, state in enumerate(("submitted", "accepted", "in_review", "approved", "issued")):
            def build(state=state, first=n == 0) -> dict:
                return self._signed(path, self._application_event(citizen, number, state, first), "accept")
            await journey.call("integration: application event", "POST", path, build=build,
                               check=lambda a: a.json()["result"])

    async def journey_licence(self, journey: Journey) -> None:
        citizen = self.rng.choice(self.citizens)
        path = "/integration/v1/licences"
        version = next(self.serial)  # versions only grow: a newer push supersedes

        def build() -> dict:
            body = self._licence(citizen, "机动车驾驶证", f"dl-{citizen.id_number}", version,
                                 self.today() + timedelta(days=365 * 6))
            return self._signed(path, body, "elic")
        await journey.call("integration: licence", "POST", path, build=build, check=lambda a: a.json()["result"])

    async def journey_bad_input(self, journey: Journey) -> None:
        kind = "bad input (expected 4xx)"
        case = self.rng.randrange(8)
        if case == 0:
            def forged() -> dict:
                self.forged += 1
                now = int(time.time())
                xml = text_message(self.new_openid(), ACCOUNT, "你好", msg_id=next(self.msg_ids), create_time=now)
                query, body = self.credentials.sign(xml, timestamp=now)
                return {"params": {**query, "signature": "0" * 40}, "data": body}
            await journey.call(kind, "POST", "/wechat", expect=403, build=forged)
        elif case == 1:
            await journey.call(kind, "GET", "/api/v1/items/NO-SUCH-ITEM", expect=404)
        elif case == 2:
            await journey.call(kind, "GET", "/api/v1/calendar/deadline", expect=400,
                               params={"from": "2026-02-30", "working_days": "5"})
        elif case == 3:
            await journey.call(kind, "POST", "/api/v1/tickets", expect=401, json={"content": "路灯坏了"})
        elif case == 4:
            await journey.call(kind, "POST", "/api/v1/tickets", expect=400, json={"content": ""},
                               **self._bearer(await self._login(journey, None)))
        elif case == 5:
            def refused(answer: Answer) -> None:
                if answer.status == 429 and answer.json()["error"]["code"] != "lookup_rate_limited":
                    raise Unexpected("429 other than lookup_rate_limited")
            number = f"SX{self.today():%Y%m%d}{self.rng.randrange(900000, 10**6)}"
            await journey.call(kind, "GET", f"/api/v1/applications/{number}", expect=(404, 429),
                               params={"password": "000000"}, check=refused)
        elif case == 6:
            await journey.call(kind, "POST", "/console/api/login", expect=415,
                               data="username=agent01&password=x",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            await journey.call(kind, "GET", "/console/api/queues/no-such-queue", expect=400,
                               **await self._staff(journey, "agent01"))


# --- running it -------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since the measured window began
    rss: int | None
    backlog: int


async def _backlog(db: asyncpg.Connection) -> int:
    return await db.fetchval("SELECT count(*) FROM outbox WHERE state IN ('created', 'temporary-failure') "
                             "AND next_attempt_at <= now()")


async def _sampler(pid: int, db: asyncpg.Connection, recorder: Recorder, interval: float,
                   samples: list[Sample]) -> None:
    while True:
        await asyncio.sleep(interval)
        at = time.monotonic() - recorder.start
        try:
            sample = Sample(at, rss_bytes(pid), await _backlog(db))
        except Exception as exc:  # noqa: BLE001 - a missed sample is reported, never the end of sampling
            recorder.generator_bugs[f"sampler: {type(exc).__name__}: {exc}"] += 1
            continue
        if sample.rss is None:
            print("  the service process is gone", flush=True)
            return
        samples.append(sample)
        if at >= 0:
            done = sum(len(s.latencies) for s in recorder.kinds.values())
            errors = sum(sum(s.errors.values()) for s in recorder.kinds.values())
            lag = sorted(recorder.lags[-2000:])
            print(f"  t={at:5.0f} s  requests {done:7,}  errors {errors:5,}  RSS {sample.rss / 2**20:7.1f} MiB  "
                  f"outbox backlog {sample.backlog:5,}  lag p99 {percentile(lag, 99):6.1f} ms  "
                  f"in flight {recorder.in_flight}", flush=True)


def memory_verdict(samples: list[Sample]) -> list[str]:
    points = [(s.at, s.rss) for s in samples if s.at >= 0 and s.rss is not None]
    if len(points) < 6:
        return ["memory: too few samples after warm-up for a verdict"]
    third = len(points) // 3
    middle = median(r for _, r in points[third:2 * third])
    last = median(r for _, r in points[2 * third:])
    growth = last - middle
    threshold = max(2 * 2**20, 0.01 * middle)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (sum((x - mx) ** 2 for x in xs) or 1)
    verdict = "GROWS (unbounded growth suspected)" if growth > threshold else "steady (no sign of unbounded growth)"
    return [f"memory (VmRSS): {points[0][1] / 2**20:.1f} MiB at the end of warm-up -> {points[-1][1] / 2**20:.1f} MiB "
            f"at the end ({(points[-1][1] - points[0][1]) / 2**20:+.1f} MiB); min {min(ys) / 2**20:.1f}, "
            f"max {max(ys) / 2**20:.1f} MiB over {len(points)} samples",
            f"memory verdict: {verdict}: median of the last third {last / 2**20:.1f} MiB vs middle third "
            f"{middle / 2**20:.1f} MiB ({growth / 2**20:+.1f} MiB; threshold +{threshold / 2**20:.1f} MiB); "
            f"least-squares slope {slope * 3600 / 2**20:+.1f} MiB/hour",
            "memory rule: 'grows' when the median RSS of the last third of the post-warm-up samples exceeds the "
            "middle third's by more than max(2 MiB, 1 %)"]


def _stats_lines(recorder: Recorder, seconds: float) -> list[str]:
    total = sum(len(s.latencies) for s in recorder.kinds.values())
    lines = [f"{'kind':<38} {'requests':>9} {'share':>6} {'errors':>7} {'err %':>6} {'p50 ms':>8} {'p95 ms':>8} "
             f"{'p99 ms':>8} {'max ms':>8}"]
    everything: list[float] = []
    errors_total = 0
    for kind in sorted(recorder.kinds):
        stats = recorder.kinds[kind]
        values = sorted(stats.latencies)
        everything += values
        errors = sum(stats.errors.values())
        errors_total += errors
        lines.append(f"{kind:<38} {len(values):>9,} {len(values) / total:>6.1%} {errors:>7,} "
                     f"{errors / len(values):>6.2%} {percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f} "
                     f"{percentile(values, 99):>8.1f} {values[-1]:>8.1f}")
    everything.sort()
    lines.append(f"{'overall':<38} {total:>9,} {1:>6.0%} {errors_total:>7,} {errors_total / max(total, 1):>6.2%} "
                 f"{percentile(everything, 50):>8.1f} {percentile(everything, 95):>8.1f} "
                 f"{percentile(everything, 99):>8.1f} {everything[-1] if everything else 0:>8.1f}")
    lines.append(f"achieved {total / seconds:,.1f} requests/s over {seconds:g} s")
    return lines


def _timeline_lines(recorder: Recorder, samples: list[Sample]) -> list[str]:
    width = recorder.bucket_seconds
    lines = [f"{'from s':>7} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} {'backlog':>8}"]
    for bucket in sorted(recorder.buckets):
        values = sorted(recorder.buckets[bucket])
        inside = [s for s in samples if bucket * width <= s.at < (bucket + 1) * width]
        rss = inside[-1].rss / 2**20 if inside and inside[-1].rss else float("nan")
        backlog = max((s.backlog for s in inside), default=0)
        lines.append(f"{bucket * width:>7.0f} {len(values):>9,} {recorder.bucket_errors[bucket]:>7,} "
                     f"{percentile(values, 50):>8.1f} {percentile(values, 99):>8.1f} {rss:>8.1f} {backlog:>8,}")
    return lines


async def _drain(db: asyncpg.Connection, limit: float) -> tuple[float, int, int]:
    """Wait for the workers: no due outbox row and every bad application rating followed up."""
    began = time.monotonic()
    while True:
        backlog = await _backlog(db)
        pending = await db.fetchval("SELECT count(*) FROM application_ratings WHERE needs_follow_up "
                                    "AND followed_up_at IS NULL")
        if (backlog == 0 and pending == 0) or time.monotonic() - began > limit:
            return time.monotonic() - began, backlog, pending
        await asyncio.sleep(1)


async def _redis_keys() -> set[bytes]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return {key async for key in client.scan_iter(count=1000)}
    finally:
        await client.aclose()


async def _forget(before: set[bytes]) -> int:
    """Remove the keys the run created (anything not there before it)."""
    client = aioredis.Redis.from_url(REDIS_URL)
    removed = 0
    try:
        batch = [key async for key in client.scan_iter(count=1000) if key not in before]
        for start in range(0, len(batch), 500):
            removed += await client.delete(*batch[start:start + 500])
    finally:
        await client.aclose()
    return removed


async def run(args: argparse.Namespace, database_url: str, run_id: str) -> tuple[list[str], bool]:
    """The summary's lines and whether the run was clean; the service's log is removed unless kept."""
    log_dir = Path(tempfile.mkdtemp(prefix="soak-service-"))
    try:
        async with ServiceProcesses(log_dir) as group:
            return await _soak(args, database_url, run_id, group)
    finally:
        if not args.keep_log:
            shutil.rmtree(log_dir, ignore_errors=True)


async def _soak(args: argparse.Namespace, database_url: str, run_id: str,
                group: ServiceProcesses) -> tuple[list[str], bool]:
    before = await _redis_keys()
    fake = await start_fake_wechat(app_id="wx-soak-official", miniapp_id="wx-soak-miniapp")
    service = await group.start_server("service", service_settings(database_url, fake, args.safe))
    process = service.process
    interval = 10.0 if args.seconds >= 300 else max(1.0, args.seconds / 30)
    recorder = Recorder(bucket_seconds=60.0 if args.seconds >= 300 else 10.0)
    connector = aiohttp.TCPConnector(limit=args.connections)
    summary: list[str] = []
    clean = False
    db = soak = None
    try:
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=30)) as http:
            began = time.monotonic()
            await group.ready(service, timeout=300)
            startup = time.monotonic() - began
            print(f"service ready in {startup:.1f} s (pid {process.pid}); populating …", flush=True)
            soak = Soak(args, run_id, service.url, http, fake, recorder)
            began = time.monotonic()
            pushes = await soak.populate()
            print(f"population: {len(soak.citizens):,} citizens, {pushes:,} integration pushes in "
                  f"{time.monotonic() - began:.1f} s; {len(soak.scenarios)} scenarios, {len(soak.item_codes)} items",
                  flush=True)
            db = await asyncpg.connect(database_url)
            samples: list[Sample] = []
            recorder.start = time.monotonic() + args.warmup
            recorder.end = recorder.start + args.seconds
            sampler = asyncio.create_task(_sampler(process.pid, db, recorder, interval, samples))
            print(f"warm-up {args.warmup:g} s, then {args.seconds:g} s measured at {args.rate:g} requests/s …",
                  flush=True)
            await soak.dispatcher.drive(args.warmup, args.rate)
            cpu_before, generator_before = cpu_seconds(process.pid), time.process_time()
            machine_before = machine_cpu()
            samples.append(Sample(0.0, rss_bytes(process.pid), await _backlog(db)))
            await soak.dispatcher.drive(args.seconds, args.rate)
            service_cpu = (cpu_seconds(process.pid) - cpu_before) / args.seconds
            generator_cpu = (time.process_time() - generator_before) / args.seconds
            busy, every, cpu_waited_us = (after - before for after, before in zip(machine_cpu(), machine_before))
            samples.append(Sample(time.monotonic() - recorder.start, rss_bytes(process.pid), await _backlog(db)))
            end_backlog = samples[-1].backlog
            in_flight_at_end = recorder.in_flight
            for _ in range(600):  # the requests already given a turn finish; journeys waiting for one stop
                if recorder.in_flight == 0 and recorder.granted == 0:
                    break
                await asyncio.sleep(0.1)
            unfinished = recorder.in_flight + recorder.granted
            await soak.dispatcher.stop()
            sampler.cancel()
            drain_seconds, backlog_after, pending_follow_up = await _drain(db, 75.0)
            outbox = await db.fetch("SELECT state, count(*) AS n FROM outbox GROUP BY state ORDER BY state")
            lateness = await db.fetchval("SELECT max(sent_at - due_at) FROM outbox WHERE state = 'delivered'")
            tickets = {r["channel"]: r["n"] for r in await db.fetch(
                "SELECT channel, count(*) AS n FROM tickets WHERE source_key IS NULL OR source_key NOT LIKE 'demo:%' "
                "GROUP BY channel")}
            states = await db.fetch("SELECT state, count(*) AS n FROM tickets GROUP BY state ORDER BY n DESC")
            summary += [f"machine: {machine()}",
                        f"load average at the end (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
                        "(others' work on the machine included)",
                        f"service: python server.py (pid {process.pid}), PostgreSQL (throwaway database), Redis "
                        f"{REDIS_URL.rsplit('/', 1)[-1]!r}, RUN_WORKERS=true, NOTIFY_CHANNEL=wechat_subscribe to a "
                        f"fake WeChat in the generator, LOG_LEVEL=WARNING, {'safe (AES)' if args.safe else 'plain'} "
                        f"webhook; ready in {startup:.0f} s",
                        f"load: open-loop Poisson arrivals at {args.rate:g}/s, {args.seconds:g} s measured after "
                        f"{args.warmup:g} s warm-up, <= {args.connections} connections, {len(soak.citizens):,} "
                        f"citizens + the demo citizen, seed {args.seed}", ""]
            summary += _stats_lines(recorder, args.seconds)
            problems = [(kind, reason, n) for kind, s in recorder.kinds.items() for reason, n in s.errors.items()]
            if problems:
                summary.append("errors:")
                for kind, reason, n in sorted(problems, key=lambda p: -p[2])[:15]:
                    summary.append(f"  {n:>6,}  {kind}: {reason}")
                    summary.append(f"          e.g. {recorder.examples[(kind, reason)][:160]}")
            summary.append("slowest requests (ms @ seconds into the window): " + ", ".join(
                f"{ms:.0f} @ {at:.1f} {kind}" for ms, at, kind in sorted(recorder.slowest, reverse=True)))
            lags = sorted(recorder.lags)
            late = sum(1 for x in lags if x > 10) / max(len(lags), 1)
            summary += ["",
                        f"generator lag (scheduled arrival -> request sent): p50 {percentile(lags, 50):.2f} ms, "
                        f"p99 {percentile(lags, 99):.2f} ms, max {lags[-1] if lags else 0:.1f} ms; "
                        f"{late:.2%} over 10 ms",
                        f"CPU (share of one core, measured window): service {service_cpu:.0%}, generator + fake "
                        f"WeChat {generator_cpu:.0%}; peak in flight {recorder.peak_in_flight}; "
                        f"in flight when arrivals stopped {in_flight_at_end}",
                        f"the whole machine in the window: CPU {busy / max(every, 1):.0%} busy over {os.cpu_count()} "
                        f"cores; some task waiting for a CPU {cpu_waited_us / 1e6 / args.seconds:.1%} of the time "
                        "(/proc/pressure/cpu: others' work included)"]
            if recorder.unused_turns:
                summary.append(f"arrivals a journey did not use: {recorder.unused_turns}")
            for bug, n in recorder.generator_bugs.items():
                summary.append(f"GENERATOR BUG x{n}: {bug.strip().splitlines()[-1]}")
            summary += [""] + memory_verdict(samples) + [""] + _timeline_lines(recorder, samples)
            summary += ["",
                        f"outbox: due and undelivered when arrivals stopped {end_backlog:,}; after {drain_seconds:.0f} s "
                        f"{backlog_after:,}; max during the run {max((s.backlog for s in samples), default=0):,}; "
                        "by state: " + ", ".join(f"{r['state']} {r['n']:,}" for r in outbox),
                        f"outbox: latest delivery after its due time {lateness}",
                        f"fake WeChat received {len(fake.subscribe_messages):,} subscribe and "
                        f"{len(fake.custom_messages):,} customer-service messages, issued {fake.tokens_issued} tokens",
                        "tickets in the database (demo ones aside), by channel: "
                        + ", ".join(f"{c} {n:,}" for c, n in sorted(tickets.items())),
                        "tickets the generator created (warm-up included): "
                        + ", ".join(f"{c} {n:,}" for c, n in sorted(soak.created.items()))
                        + f"; bad application ratings {soak.bad_app_ratings} (become 'rating' tickets; "
                          f"{pending_follow_up} not yet followed up)",
                        "tickets by state: " + ", ".join(f"{r['state']} {r['n']:,}" for r in states)]
            mismatch = {c: (tickets.get(c, 0), n) for c, n in {**soak.created, "rating": soak.bad_app_ratings}.items()
                        if tickets.get(c, 0) != n}
            if unfinished:
                summary.append(f"tickets: not compared, {unfinished} requests were still unanswered 60 s after "
                               "the arrivals stopped")
                mismatch = {"unanswered": unfinished}
            else:
                summary.append("tickets: database and generator agree" if not mismatch else
                               f"TICKETS DIFFER (database, generator): {mismatch}")
            clean = not (problems or mismatch or recorder.generator_bugs or recorder.unused_turns
                         or any("GROWS" in line for line in summary))
    finally:
        if db is not None:
            await db.close()
        await service.stop()
        await fake.close()
        removed = await _forget(before)
        summary += ["", f"service warnings and errors logged (the generator forged {soak.forged if soak else 0:,} webhook "
                        "signatures, each refused with a warning):"] + (log_summary(service.log_path) or ["  none"])
        if args.keep_log:
            summary.append(f"(service log kept at {service.log_path})")
        summary.append(f"(removed {removed:,} Redis keys of the run; service exit code {process.returncode})")
    return summary, clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="measured seconds (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of the same load first, not measured")
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals (requests) per second")
    parser.add_argument("--connections", type=int, default=64, help="at most this many requests at once")
    parser.add_argument("--citizens", type=int, default=600, help="bound citizens in the population")
    parser.add_argument("--safe", action="store_true", help="the webhook in safe mode (AES)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-log", action="store_true", help="keep the service's log file")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    run_id = uuid.uuid4().hex[:8]
    name = f"zsb_bench_soak_{run_id}"
    database_url = asyncio.run(throwaway_database(name))
    try:
        summary, clean = asyncio.run(run(args, database_url, run_id))
    finally:
        asyncio.run(throwaway_database(name, drop=True))
    print("\n----- load and soak: summary (paste into a note) -----")
    print("\n".join(summary))
    print("----- end of summary -----")
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
