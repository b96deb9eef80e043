"""The relational database: SQLAlchemy 2 async engine, sessions, the model base and types.

SQLite (embedded default) and PostgreSQL (production, tests) are driven by the same code.
A unit of work is one transaction: `async with transaction(app) as session: ...`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from sqlalchemy import DateTime, MetaData, Select, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from core import keys
from core.clock import SHANGHAI
from core.settings import Settings

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Modules that define tables; imported before migrations compare models with the schema.
MODEL_MODULES = ["core.system_state", "knowledge_base.models", "core.integration", "core.outbox", "personal_space.models",
                 "hotline.models"]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def import_models() -> MetaData:
    """Import every model module and return the complete metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


class AwareDateTime(TypeDecorator):
    """A timezone-aware datetime on both backends: stored in UTC, read back in Asia/Shanghai.

    SQLite has no time zones, so a naive value would silently shift; naive input is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use core.clock for timezone-aware values")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(SHANGHAI)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # the database file stays consistent for readers outside the service
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    dbapi_connection.isolation_level = None  # the driver's own BEGIN comes only before a write: ours below


def _sqlite_begin(connection) -> None:
    """SQLite has no SELECT … FOR UPDATE: a transaction that reads a row, decides, then writes
    (a ticket's next state) would decide on what another is about to change. BEGIN IMMEDIATE
    takes the write lock first, so transactions run one after another, as PostgreSQL's row locks
    make them. Every transaction does, reads too (SQLAlchemy begins one for any statement): the
    embedded default trades concurrency for that simplicity; PostgreSQL is the one for load."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured database; for SQLite the data folder is created."""
    url = settings.database
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 5})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        pool_size=20,  # kept once opened: opening one per burst costs more than an idle connection
        max_overflow=0,
        pool_timeout=5,
        pool_pre_ping=True,  # a restarted PostgreSQL leaves dead connections in the pool
        connect_args={"timeout": 5, "command_timeout": 30},
    )


async def database_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the engine and session factory live as long as the app."""
    engine = create_engine(app[keys.SETTINGS])
    app[keys.ENGINE] = engine
    app[keys.SESSIONS] = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await engine.dispose()


def insert_for(session: AsyncSession, model):
    """INSERT into `model` in the session's dialect, whose ON CONFLICT clauses PostgreSQL and SQLite share."""
    return (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(model)


async def serialise(session: AsyncSession, key: str) -> None:
    """Wait until no other transaction is working on `key` (one licence, one application), and
    hold it until this one ends: writers of the same thing, even one not yet stored, go one after
    another. PostgreSQL: a transaction-level advisory lock; SQLite: its transactions already do
    (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


async def grouped(session: AsyncSession, query: Select, column, keys: list) -> dict[object, list]:
    """The rows of `query` whose `column` is one of `keys`, grouped by it in the query's order: one
    query for any number of keys (none for no keys), and every key present ([] when it has no rows)."""
    found: dict[object, list] = {key: [] for key in keys}
    if keys:
        for row in await session.scalars(query.where(column.in_(keys))):
            found[getattr(row, column.key)].append(row)
    return found


@asynccontextmanager
async def transaction(app: web.Application) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends, rolled back when it raises."""
    async with app[keys.SESSIONS].begin() as session:
        yield session
