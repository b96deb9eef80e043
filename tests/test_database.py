"""Storage behaviour that differs between the embedded SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import system_state
from core.clock import SHANGHAI
from core.db import create_engine, import_models
from core.migrate import current_revision, head_revision, migrate
from core.settings import load_settings


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request, database_url, make_settings, tmp_path):
    url = database_url if request.param == "postgresql" else f"sqlite:///{tmp_path}/embedded.db"
    engine = create_engine(load_settings(database_url=url))
    await migrate(engine)  # a no-op on the already migrated PostgreSQL database
    yield engine
    await engine.dispose()


async def test_migrations_reach_head_on_both_backends(engine):
    assert await current_revision(engine) == head_revision()


async def test_the_migrations_build_exactly_the_schema_the_models_describe(engine):
    """A model changed without its migration, or a migration without its model, shows here."""
    metadata = import_models()
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert differences == []


async def test_timestamps_keep_their_instant_and_come_back_in_shanghai_time(engine):
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    written = datetime(2026, 11, 18, 23, 59, 59, tzinfo=SHANGHAI)
    async with sessions.begin() as session:
        await system_state.write(session, "probe", {"n": 1}, written)
    async with sessions.begin() as session:
        row = await system_state.read_for_update(session, "probe")
    assert row.updated_at == written.astimezone(timezone.utc)  # the same instant
    assert row.updated_at.utcoffset().total_seconds() == 8 * 3600
    assert row.value == {"n": 1}


async def test_a_read_for_update_then_write_is_never_lost_to_another_at_once(engine):
    """Each transaction reads a counter, thinks, and writes it plus one: none may decide on a
    value another is changing (PostgreSQL: the row lock; SQLite: BEGIN IMMEDIATE)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
    async with sessions.begin() as session:
        await system_state.write(session, "counter", 0, now)

    async def add_one() -> None:
        async with sessions.begin() as session:
            row = await system_state.read_for_update(session, "counter")
            await asyncio.sleep(0.05)
            row.value += 1

    await asyncio.gather(*(add_one() for _ in range(4)))
    async with sessions.begin() as session:
        assert (await system_state.read_for_update(session, "counter")).value == 4


async def test_naive_timestamps_are_refused(engine):
    sessions = async_sessionmaker(engine)
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions.begin() as session:
            await system_state.write(session, "probe", 1, datetime(2026, 1, 1))
            await session.flush()


async def test_the_grants_of_a_representative_replaced_before_the_upgrade_end_with_it(tmp_path):
    """Migration 0015 ends what 09463eb ends from then on: agents granted by a representative no
    longer in office (the embedded SQLite, migrated to 0014, filled, then to the head)."""
    from datetime import date

    from personal_space.models import Enterprise, EnterpriseMember, Person

    engine = create_engine(load_settings(database_url=f"sqlite:///{tmp_path}/upgrade.db"))
    try:
        await migrate(engine, "0014")
        then = datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions.begin() as session:
            session.add(Enterprise(uscc="91350200776049653A", name="某某餐饮有限公司", created_at=then))
            for number in ("former", "current", "agent-a", "agent-b"):
                session.add(Person(id_number=number, name=number, created_at=then, updated_at=then))
            await session.flush()

            def member(who: str, role: str, by: str | None, revoked: datetime | None = None) -> EnterpriseMember:
                return EnterpriseMember(uscc="91350200776049653A", id_number=who, role=role, granted_by=by,
                                        valid_until=None if by is None else date(2027, 6, 30), granted_at=then,
                                        revoked_at=revoked)

            session.add_all([member("former", "legal_representative", None, revoked=then),
                             member("current", "legal_representative", None),
                             member("agent-a", "agent", "former"), member("agent-b", "agent", "current")])
        await migrate(engine)
        async with sessions.begin() as session:
            rows = await session.execute(select(EnterpriseMember.id_number, EnterpriseMember.revoked_at)
                                         .where(EnterpriseMember.role == "agent"))
            ended = {who: revoked is not None for who, revoked in rows}
        assert ended == {"agent-a": True, "agent-b": False}
    finally:
        await engine.dispose()
