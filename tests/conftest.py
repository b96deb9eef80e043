"""Fixtures: a fresh PostgreSQL database per run, a clean Redis database and tables per test.

TEST_DATABASE_URL names a PostgreSQL database we may connect to in order to create and drop
the run's own database; TEST_REDIS_URL a Redis database the suite may flush. `scripts/test.sh`
sets both (starting throwaway servers when none are reachable). Nothing is skipped when they are
missing: the fixtures fail loudly.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.clock import SHANGHAI, FrozenClock
from core.db import create_engine, import_models
from core.migrate import migrate
from core.settings import REPO_ROOT, Settings, load_settings
from knowledge_base.catalogue import load_catalogue
from knowledge_base.importer import import_items, load_imported_items, read_jsonl
from knowledge_base.models import ImportedItem
from knowledge_base.service import KnowledgeBase, load_knowledge_base
from server import create_app

pytest_plugins = ["tests.fake_wechat"]  # the fake_wechat fixture

ADMIN_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SHARED = REPO_ROOT.parent / "shared"
GD_ITEMS = SHARED / "datasets" / "gd_service_items.jsonl"


def _async_url(url: str):
    return make_url(url).set(drivername="postgresql+asyncpg")


async def _create_database() -> str:
    name = f"zsb_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_async_engine(_async_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = _async_url(ADMIN_DATABASE_URL).set(database=name)
    engine = create_async_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    return url.render_as_string(hide_password=False)


async def _drop_database(url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(_async_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The run's own PostgreSQL database, migrated to head; dropped at the end."""
    url = asyncio.run(_create_database())
    yield url
    asyncio.run(_drop_database(url))


async def _import_gd_items(database_url: str):
    """Import the real catalogue as `server.py kb import` does, read it back, remove it again
    (tests that follow expect an empty kb_items)."""
    engine = create_engine(load_settings(database_url=database_url))
    sessions = async_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            await import_items(session, read_jsonl(GD_ITEMS), curated=load_catalogue(), now=datetime.now(SHANGHAI))
        async with sessions() as session:
            imported = await load_imported_items(session)
        async with sessions.begin() as session:
            await session.execute(delete(ImportedItem))
        return imported
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def full_kb(database_url) -> tuple[KnowledgeBase, list]:
    """The knowledge base the service serves with the 2,262 Guangdong items imported through
    PostgreSQL, and those imported items."""
    if not GD_ITEMS.exists():
        pytest.skip(f"{GD_ITEMS} is absent (the shared datasets folder is not beside the repo)")
    imported = asyncio.run(_import_gd_items(database_url))
    return load_knowledge_base(imported), imported


async def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in import_models().sorted_tables)
    if not tables:
        return
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A flushed Redis database for this test."""
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    yield REDIS_URL


@pytest.fixture(scope="session")
def suite_redis_url() -> str:
    """The Redis database the suite may flush, as is: for fixtures that outlive one test."""
    return REDIS_URL


@pytest.fixture(scope="session")
def empty_tables(database_url: str) -> Callable[[], Awaitable[None]]:
    """Empties every table as make_settings does after each test: for fixtures that outlive one test."""
    return functools.partial(_truncate_all, database_url)


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    """A per-test copy of the shipped override file, so a test may edit it."""
    path = tmp_path / "calendar_overrides.yaml"
    path.write_text((REPO_ROOT / "config" / "calendar_overrides.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
async def make_settings(database_url: str, redis_url: str, calendar_file: Path) -> AsyncIterator[Callable[..., Settings]]:
    """Settings for the production mode (PostgreSQL + Redis); tables are emptied after the test."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "calendar_file": calendar_file,
            "migrate_on_start": False,
            "demo_data": False,
            "run_workers": False,
        }
        values.update(overrides)
        return load_settings(**values)

    yield build
    await _truncate_all(database_url)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 18, 9, 30, tzinfo=SHANGHAI))


@pytest.fixture
async def client(aiohttp_client, make_settings, clock):
    """An HTTP client of the whole service against PostgreSQL and Redis."""
    return await aiohttp_client(create_app(make_settings(), clock=clock))
