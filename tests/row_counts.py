"""Counting what is stored, to show what a request wrote, or that it wrote nothing at all.

Every count reads through the running app's own database (`app[keys.SESSIONS]`), in a
transaction of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import Select, event, func, select

from core import keys
from core.db import import_models, transaction


@contextmanager
def statements(app: web.Application, naming: str = "") -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block (those containing `naming`)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if naming in statement:
            seen.append(statement)

    engine = app[keys.ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _counted(model, *where) -> Select:
    return select(func.count()).select_from(model).where(*where)


async def count_rows(app: web.Application, model, *where) -> int:
    """Rows of `model` (a model class or a table), only those matching `where` if given."""
    async with transaction(app) as session:
        return await session.scalar(_counted(model, *where))


async def table_counts(app: web.Application, *models) -> dict[str, int]:
    """Row counts by table name: of these models' tables, or of every table when none is named."""
    tables = [model.__table__ for model in models] or import_models().sorted_tables
    async with transaction(app) as session:
        return {table.name: await session.scalar(_counted(table)) for table in tables}


async def snapshot(app: web.Application, redis_url: str) -> tuple[dict[bytes, bytes], dict[str, int]]:
    """Every Redis key with its value, and every table's row count: equal before and after a
    request that changed nothing."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        store = {key: await client.dump(key) for key in await client.keys("*")}
    finally:
        await client.aclose()
    return store, await table_counts(app)
