"""The WeChat webhook under load: signed text messages through the whole pipeline (signature,
parse, dedupe in Redis, understanding, the dialogue, reply) against a bare aiohttp handler that
answers a fixed XML, in the same run, at 64 concurrent connections.

Run: .venv/bin/python -m bench.bench_bot [--seconds 10] [--connections 64] [--processes 1]
     [--safe] [--log-level INFO]
PostgreSQL at BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test (a throwaway
database is created, migrated and dropped) and Redis at BENCH_REDIS_URL or
redis://127.0.0.1:6379/9 (the run's keys are removed afterwards).

The service (`create_app`, as `python server.py` serves it, workers off) and the baseline each
run in their own process(es) on a real port; the load generator is this process. They share
the machine's cores, which the output says. Each message comes from a new user (a first
contact: no conversation yet) with its own MsgId; the texts are a realistic mix of greetings,
guide questions, progress and ticket queries, complaints and a subscribe event. The mix repeats
its 18 texts, so the service's recent readings (`intents.understanding.Recent`) answer most of
them, as they would the everyday words of real traffic; `--fresh-readings` reads each afresh.
Each line also gives the server processes' CPU per message while measured (Linux), which the
noise of a shared machine moves less than throughput. Targets: throughput >= 0.5 x the
baseline's, p99 <= 50 ms. A third, diagnostic line runs the
same service with the dialogue replaced by a fixed reply, to tell the channel's cost (signature,
parse, middlewares, Redis dedupe) from the dialogue's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bench.common import machine, percentile, throwaway_database
from bot.signing import Credentials, event_message, message_xml, text_message
from core.db import create_engine
from core.migrate import migrate
from core.settings import load_settings
from tests.bot_helpers import AES_KEY
from tests.processes import free_port

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
TOKEN = "bench-token"
APP_ID = "wx-bench"
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
# (text, weight): what citizens write to a government account, first contact.
MIX = [("你好", 12), ("您好，在吗", 4), ("你能做什么", 6), ("谢谢", 3),
       ("我要开饭店需要什么材料", 8), ("居住证怎么办理", 8), ("新生儿医保参保需要什么材料", 5),
       ("身份证丢了怎么补办", 5), ("灵活就业人员怎样办理养老保险参保登记", 4), ("个体户营业执照怎么办", 4),
       ("查询办件SX20261105000123", 8), ("我的办件办到哪一步了", 4), ("GD20261118000042办得怎么样了", 5),
       ("我要投诉小区门口噪音扰民", 6), ("楼下餐馆油烟直排没人管", 3), ("今天天气怎么样", 3),
       ("<subscribe>", 4), ("转人工", 2)]


def _run_service(overrides: dict, port: int, fixed_dialogue: bool = False, fresh_readings: bool = False) -> None:
    """Child process: the real service, as `python server.py` runs it. With `fixed_dialogue`
    the dialogue is replaced by a fixed reply (the diagnostic line: the channel's own cost);
    with `fresh_readings` every message is read by the model, none from the recent readings."""
    from bot.messages import Answer, Reply
    from core import keys
    from core.logs import configure_logging
    from intents.understanding import understand
    from server import create_app, long_lived, new_event_loop

    settings = load_settings(**overrides)
    configure_logging(settings.log_level, stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    app = long_lived(create_app(settings))
    if fixed_dialogue:
        async def fixed(_app: web.Application, _incoming, memory: str | None) -> Answer:
            return Answer(Reply(text="您好，欢迎使用政务掌上办！"), memory)
        app[keys.BOT_RESPOND] = fixed
    if fresh_readings:
        async def read_afresh(started: web.Application) -> None:  # after the intents context set its own
            started[keys.UNDERSTAND] = understand
        app.on_startup.append(read_afresh)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=True, loop=new_event_loop())


def _run_baseline(port: int) -> None:
    """Child process: a bare aiohttp handler answering a fixed passive-reply XML, on the service's
    event loop (`server.new_event_loop`), so that the two differ only in what the handler does."""
    from server import new_event_loop

    fixed = message_xml({"ToUserName": "o", "FromUserName": "gh", "CreateTime": 1, "MsgType": "text",
                         "Content": "您好，欢迎使用政务掌上办！"})

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text=fixed, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/wechat", handler)
    app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=True, loop=new_event_loop())


@dataclass
class Result:
    label: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    replies: Counter = field(default_factory=Counter)
    pids: list[int] = field(default_factory=list)  # the server processes of this side
    cpu_seconds: float | None = None  # theirs, while measured (None where /proc cannot tell)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        lat = sorted(self.latencies)
        cpu = "" if self.cpu_seconds is None else f"  server CPU {self.cpu_seconds * 1000 / len(lat):5.3f} ms/message"
        return (f"{self.label:>22}: {self.rate:8,.0f} messages/s  p50 {percentile(lat, 50):6.2f} ms  "
                f"p95 {percentile(lat, 95):6.2f} ms  p99 {percentile(lat, 99):6.2f} ms  max {lat[-1]:7.2f} ms{cpu}")


def _cpu_seconds(pids: list[int]) -> float | None:
    """User and system CPU the processes have used so far (Linux /proc), or None."""
    try:
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Load:
    """Signed messages from new users, as WeChat would post them."""

    def __init__(self, credentials: Credentials, run: str):
        self.credentials, self.run = credentials, run
        self.texts = [text for text, weight in MIX for _ in range(weight)]
        self.account = f"gh_bench_{run}"
        self._n = itertools.count()

    def next(self) -> tuple[dict[str, str], bytes]:
        n = next(self._n)
        text, openid, now = self.texts[n % len(self.texts)], f"bench-{self.run}-{n}", int(time.time())
        if text == "<subscribe>":
            xml = event_message(openid, self.account, "subscribe", create_time=now)
        else:
            xml = text_message(openid, self.account, text, msg_id=10**15 + n, create_time=now)
        return self.credentials.sign(xml, timestamp=now, nonce=uuid.uuid4().hex[:16])


async def _drive(url: str, load: Load, connections: int, seconds: float, result: Result | None) -> None:
    """`connections` clients posting back to back for `seconds`; measured into `result` when given."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                query, body = load.next()
                began = time.perf_counter()
                async with http.post(url, params=query, data=body) as response:
                    raw = await response.read()
                elapsed = (time.perf_counter() - began) * 1000
                if result is not None:
                    result.latencies.append(elapsed)
                    result.replies[_kind(response.status, raw, load.credentials)] += 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        if result is not None:
            result.seconds = time.perf_counter() - began


def _kind(status: int, raw: bytes, credentials: Credentials) -> str:
    from bot import webhook

    if status != 200:
        return f"HTTP {status}"
    try:
        fields = credentials.open_reply(raw)
    except ValueError:
        return "unreadable"
    if fields is None:
        return "success"
    content = fields.get("Content", "")
    if content == webhook.HOLDING_TEXT:
        return "holding (over budget)"
    if content == webhook.FAILURE_TEXT:
        return "failure text"
    return fields.get("MsgType", "?")


async def _wait_ready(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


async def _forget(run: str) -> int:
    """Remove the run's Redis keys (dedupe marks, conversations)."""
    client = aioredis.Redis.from_url(REDIS_URL)
    removed = 0
    try:
        async for key in client.scan_iter(match=f"*{run}*", count=1000):
            removed += await client.delete(key)
    finally:
        await client.aclose()
    return removed


async def _measure(args: argparse.Namespace, ports: list[tuple[int, Result]], credentials: Credentials,
                   run: str) -> None:
    for port, _ in ports:
        await _wait_ready(f"http://127.0.0.1:{port}/healthz")
    load = Load(credentials, run)
    for port, result in ports:
        url = f"http://127.0.0.1:{port}/wechat"
        await _drive(url, load, args.connections, args.warmup, None)
        before = _cpu_seconds(result.pids)
        await _drive(url, load, args.connections, args.seconds, result)
        after = _cpu_seconds(result.pids)
        result.cpu_seconds = None if before is None or after is None else after - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per side first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, default=1, help="server processes per side (SO_REUSEPORT)")
    parser.add_argument("--safe", action="store_true", help="safe mode (AES) instead of plain")
    parser.add_argument("--log-level", default="INFO", help="the service's LOG_LEVEL (its default is INFO)")
    parser.add_argument("--fresh-readings", action="store_true",
                        help="read every message with the model, as if none had been seen before (the service "
                             "keeps the readings of recent short messages, and the mix repeats its texts)")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip the diagnostic run with the dialogue replaced by a fixed reply")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    run = uuid.uuid4().hex[:8]
    name = f"zsb_bench_bot_{run}"
    url = asyncio.run(throwaway_database(name))
    context = multiprocessing.get_context("spawn")
    children: list = []
    try:
        engine = create_engine(load_settings(database_url=url))
        asyncio.run(_migrate(engine))
        overrides = {"database_url": url, "redis_url": REDIS_URL, "wechat_token": TOKEN, "wechat_app_id": APP_ID,
                     "wechat_aes_key": AES_KEY if args.safe else None, "run_workers": False,
                     "migrate_on_start": False, "demo_data": False, "log_level": args.log_level}
        service, baseline = Result("service (full pipeline)"), Result("baseline (fixed XML)")
        channel = Result("channel, fixed dialogue")
        ports = [(free_port(), service), (free_port(), baseline)]
        if args.breakdown:
            ports.append((free_port(), channel))
        def spawn(result: Result, target, *child_args) -> None:
            child = context.Process(target=target, args=child_args, daemon=True)
            child.start()
            children.append(child)
            result.pids.append(child.pid)

        for _ in range(args.processes):
            spawn(service, _run_service, overrides, ports[0][0], False, args.fresh_readings)
            spawn(baseline, _run_baseline, ports[1][0])
            if args.breakdown:
                spawn(channel, _run_service, overrides, ports[2][0], True)
        credentials = Credentials(TOKEN, AES_KEY if args.safe else None, APP_ID)
        print(f"mode: {'safe (AES)' if args.safe else 'plain'}; PostgreSQL + Redis; {args.connections} connections; "
              f"{args.processes} server process(es) per side; service LOG_LEVEL={args.log_level}; "
              f"{'every message read afresh' if args.fresh_readings else 'recent readings kept'}; "
              f"{args.seconds:g} s measured per side after {args.warmup:g} s warm-up")
        print(f"note: the load generator (this process) shares the {os.cpu_count()} cores with the servers")
        asyncio.run(_measure(args, ports, credentials, run))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(10)
        removed = asyncio.run(_forget(run))
        asyncio.run(throwaway_database(name, drop=True))
    print(service.line())
    print(baseline.line())
    if args.breakdown:
        print(channel.line() + f"  ({channel.rate / baseline.rate:.2f} x baseline: the webhook, middlewares and "
                               "Redis dedupe without the dialogue; diagnostic only)")
    print(f"{'replies':>22}: " + ", ".join(f"{kind} {n:,}" for kind, n in service.replies.most_common()))
    ratio = service.rate / baseline.rate
    p99 = percentile(sorted(service.latencies), 99)
    met = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS
    print(f"{'ratio':>22}: {ratio:.2f} (target >= {TARGET_RATIO}); service p99 {p99:.2f} ms (target <= "
          f"{TARGET_P99_MS:g} ms): {'met' if met else 'NOT met'}")
    print(f"(removed {removed:,} Redis keys of the run)")
    return 0 if met else 1


async def _migrate(engine) -> None:
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
