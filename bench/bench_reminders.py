"""Reminders at scale: 1,000,000 documents in PostgreSQL, one day's planning, then delivery to the
fake WeChat server.

Run: .venv/bin/python -m bench.bench_reminders   (PostgreSQL at BENCH_DATABASE_URL or
postgresql://postgres@127.0.0.1:5432/test, where a throwaway database is created and dropped)

Loads 1,000,000 licences (and their holders with bound WeChat accounts) with COPY, their expiry
dates spread over ten years, then times `plan_due_reminders` for one day and the outbox workers
draining what it queued into the fake WeChat server (a real HTTP server on 127.0.0.1), and
counts duplicates there. Baseline in the same run: the same number of subscribe messages posted
straight at the fake with aiohttp, no database. Targets: planning <= 5 s; >= 300 messages/s;
zero duplicates.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import machine, throwaway_database
from core import outbox
from core.clock import SHANGHAI, FrozenClock
from core.migrate import migrate
from core.settings import load_settings
from personal_space.reminders import plan_due_reminders
from server import create_app
from tests.fake_wechat import start_fake_wechat

DOCUMENTS = int(os.environ.get("BENCH_DOCUMENTS", "1000000"))
TODAY = date(2026, 11, 18)
KINDS = ["食品经营许可证", "机动车驾驶证", "营业执照", "居民身份证", "健康证明", "道路运输证"]
WORKERS = 1


async def _load(url: str) -> float:
    engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    began = time.perf_counter()
    now = datetime.now(SHANGHAI)
    conn = await asyncpg.connect(url)
    try:
        ids = [f"{i:017d}X" for i in range(DOCUMENTS)]
        await conn.copy_records_to_table("persons", columns=["id_number", "name", "phone", "created_at", "updated_at"],
                                         records=((i, "测试", None, now, now) for i in ids))
        await conn.copy_records_to_table("wechat_accounts", columns=["openid", "unionid", "id_number", "created_at",
                                                                     "bound_at"],
                                         records=((f"o-{i}", None, i, now, now) for i in ids))
        start = TODAY - timedelta(days=365)
        await conn.copy_records_to_table(
            "documents", columns=["id", "licence_id", "version", "kind", "number", "holder_type", "holder_id",
                                  "holder_name", "issuer", "issued_on", "valid_until", "status", "source", "verified",
                                  "predecessor_id", "extra", "created_at", "updated_at"],
            records=((uuid.uuid4().hex, f"L-{n}", 1, KINDS[n % len(KINDS)], f"N{n}", "person", i, "测试", "某局", None,
                      start + timedelta(days=n % 3650), "valid", "bench", True, None, "{}", now, now)
                     for n, i in enumerate(ids)))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def _baseline(fake, count: int) -> float:
    """Subscribe messages posted straight at the fake, 8 at a time: what the fake itself can take."""
    async with aiohttp.ClientSession() as http:
        token = (await (await http.get(f"{fake.base_url}cgi-bin/token", params={
            "grant_type": "client_credential", "appid": fake.miniapp_id, "secret": fake.miniapp_secret})).json())
        gate = asyncio.Semaphore(outbox.CONCURRENCY)

        async def one(n: int) -> None:
            async with gate:
                await http.post(f"{fake.base_url}cgi-bin/message/subscribe/send",
                                params={"access_token": token["access_token"]},
                                json={"touser": f"base-{n}", "template_id": "T", "data": {"x": {"value": "y"}}})
        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - began)


async def main_async() -> int:
    print(f"machine: {machine()}")
    name = f"zsb_bench_{os.getpid()}"
    url = await throwaway_database(name)
    fake = await start_fake_wechat()
    try:
        print(f"loading {DOCUMENTS:,} documents (with holders and WeChat accounts) ... ", end="", flush=True)
        print(f"{await _load(url):.0f} s")
        settings = load_settings(database_url=url, migrate_on_start=False, demo_data=False, run_workers=False,
                                 notify_channel="wechat_subscribe", wechat_templates={"licence_expiry": "TPL"},
                                 **fake.settings())
        clock = FrozenClock(datetime(TODAY.year, TODAY.month, TODAY.day, 9, 30, tzinfo=SHANGHAI))
        runner = web.AppRunner(create_app(settings, clock=clock))
        await runner.setup()
        try:
            app = runner.app
            began = time.perf_counter()
            queued = await plan_due_reminders(app)
            planning = time.perf_counter() - began
            print(f"planning one day: {planning:.2f} s, {queued:,} messages queued")
            began = time.perf_counter()
            while sum(await asyncio.gather(*(outbox.run_once(app) for _ in range(WORKERS)))):
                pass
            rate = queued / (time.perf_counter() - began)
            sent = Counter((m["touser"], m["data"]["提醒"]["value"]) for m in fake.subscribe_messages)
            duplicates = sum(n - 1 for n in sent.values())
            print(f"delivery: {rate:,.0f} messages/s with {WORKERS} worker(s), {outbox.CONCURRENCY} in flight each; "
                  f"{len(sent):,} distinct messages at the fake, {duplicates} duplicates")
        finally:
            await runner.cleanup()
        base = await _baseline(fake, max(queued, 500))
        print(f"baseline (aiohttp straight at the fake, no database): {base:,.0f} messages/s")
        met = planning <= 5 and rate >= 300 and duplicates == 0 and len(sent) == queued
        print(f"targets planning <= 5 s, >= 300 messages/s, zero duplicates: {'met' if met else 'NOT met'}")
        return 0 if met else 1
    finally:
        await fake.close()
        await throwaway_database(name, drop=True)


def main() -> int:
    return asyncio.run(main_async())


if __name__ == "__main__":
    raise SystemExit(main())
