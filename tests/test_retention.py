"""Retention: what the service deletes by itself, what it never does, in batches, and the
`python server.py retention` command on the embedded SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import outbox, retention
from core.clock import Clock
from core.db import create_engine, transaction
from core.integration import IntegrationEvent
from core.settings import SettingsError, load_settings
from hotline.models import Handoff, HandoffReply
from personal_space.models import AccessRecord
from server import create_app
from tests.processes import run_server

DAY = timedelta(days=1)


def _sent(key: str, state: str, at: datetime) -> outbox.OutboxMessage:
    return outbox.OutboxMessage(key=key, channel="console", address="o-1", recipient="110105194912310025",
                                kind="licence_expiry", data={"text": "您的证照即将到期"}, state=state, due_at=at,
                                next_attempt_at=at, attempts=1, created_at=at)


def _handoff(openid: str, state: str, at: datetime) -> Handoff:
    return Handoff(openid=openid, transcript=[{"at": at.isoformat(), "from": "user", "text": "转人工"}], state=state,
                   last_user_message_at=at, created_at=at, updated_at=at)


def _read(subject: str, at: datetime) -> AccessRecord:
    return AccessRecord(subject_type="person", subject_id=subject, reader_type="staff", reader_id="agent01",
                        reader_name="话务员", resource="12345工单 GD20261118000001", at=at)


def _event(event_id: str, at: datetime) -> IntegrationEvent:
    return IntegrationEvent(client_id="platform", event_id=event_id, kind="application-events", received_at=at)


async def _names(app, column) -> set:
    async with transaction(app) as session:
        return set(await session.scalars(select(column)))


@pytest.fixture
async def app(aiohttp_client, make_settings, clock):
    return (await aiohttp_client(create_app(make_settings(), clock=clock))).server.app


async def test_old_personal_data_goes_and_recent_unfinished_or_government_records_stay(app, clock):
    now = clock.now()
    async with transaction(app) as session:
        session.add_all([
            _sent("old-delivered", outbox.DELIVERED, now - 181 * DAY),
            _sent("old-withheld", outbox.PERMANENT, now - 200 * DAY),
            _sent("recent-delivered", outbox.DELIVERED, now - 179 * DAY),
            _sent("old-unknown-outcome", outbox.TECHNICAL, now - 400 * DAY),  # for an operator to look at
            _sent("old-still-to-send", outbox.TEMPORARY, now - 400 * DAY),
            _handoff("closed-long-ago", "closed", now - 181 * DAY),
            _handoff("closed-lately", "closed", now - 179 * DAY),
            _handoff("abandoned", "waiting", now - 181 * DAY),  # untouched since: nobody will answer it now
            _handoff("waiting-lately", "waiting", now - 179 * DAY),
            _read("old-read", now - 1097 * DAY),
            _read("recent-read", now - 1095 * DAY),
            _event("years-old-event", now - 5000 * DAY),  # its id stops the event being applied twice
        ])
        await session.flush()
        closed = await session.scalar(select(Handoff.id).where(Handoff.openid == "closed-long-ago"))
        kept = await session.scalar(select(Handoff.id).where(Handoff.openid == "closed-lately"))
        session.add_all([HandoffReply(handoff_id=handoff, author="agent01", text="您好，请讲", delivery="queued",
                                      at=now - 200 * DAY) for handoff in (closed, closed, kept)])

    assert await retention.purge(app, now) == {"outbox": 2, "handoffs": 2, "access_log": 1}

    assert await _names(app, outbox.OutboxMessage.key) == {"recent-delivered", "old-unknown-outcome",
                                                           "old-still-to-send"}
    assert await _names(app, Handoff.openid) == {"closed-lately", "waiting-lately"}
    assert await _names(app, HandoffReply.handoff_id) == {kept}  # the closed handoff's replies went with it
    assert await _names(app, AccessRecord.subject_id) == {"recent-read"}
    assert await _names(app, IntegrationEvent.event_id) == {"years-old-event"}
    assert await retention.purge(app, now) == {"outbox": 0, "handoffs": 0, "access_log": 0}


async def test_each_pass_reads_its_oldest_rows_by_an_index_not_the_whole_table(app):
    async with transaction(app) as session:
        # A few rows: left to itself the planner would read them all and sort. Forbidden to, it
        # shows whether an index gives the rows in age order (the pass then stops after BATCH).
        for plan_kind in ("seqscan", "bitmapscan", "sort"):
            await session.execute(text(f"SET LOCAL enable_{plan_kind} = off"))
        for rule in retention.rules():
            query = retention.oldest(rule, func.now()).compile(dialect=session.bind.dialect,
                                                               compile_kwargs={"literal_binds": True})
            plan = "\n".join(await session.scalars(text(f"EXPLAIN {query}")))
            index = f"ix_{rule.age.table.name}_{rule.age.name}"
            assert f"Index Scan using {index}" in plan, plan


async def test_a_backlog_goes_in_batches_and_a_rule_set_to_zero_keeps_everything(aiohttp_client, make_settings, clock,
                                                                                  monkeypatch):
    app = (await aiohttp_client(create_app(make_settings(retention_outbox_days=0), clock=clock))).server.app
    now = clock.now()
    async with transaction(app) as session:
        session.add_all([_read(f"read-{n}", now - 2000 * DAY + n * DAY) for n in range(7)])
        session.add(_sent("kept-for-ever", outbox.DELIVERED, now - 5000 * DAY))
    monkeypatch.setattr(retention, "BATCH", 3)
    first = await retention.purge(app, now)
    assert first == {"handoffs": 0, "access_log": 3}  # no outbox rule at all
    assert await _names(app, AccessRecord.subject_id) == {f"read-{n}" for n in range(3, 7)}  # oldest first
    assert await retention.purge_all(app) == {"handoffs": 0, "access_log": 4}
    assert await _names(app, AccessRecord.subject_id) == set()
    assert await _names(app, outbox.OutboxMessage.key) == {"kept-for-ever"}


def test_sent_notifications_cannot_be_deleted_before_the_reminder_planner_is_done_with_them():
    with pytest.raises(SettingsError) as refused:
        load_settings(retention_outbox_days=7)
    assert any("RETENTION_OUTBOX_DAYS" in line and "不少于100天" in line for line in refused.value.lines)
    assert load_settings(retention_outbox_days=0).retention_outbox_days == 0


async def test_the_retention_command_deletes_old_rows_from_the_embedded_database(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/embedded.db", "RETENTION_HANDOFF_DAYS": "0"}
    first = run_server("retention", env=env, cwd=tmp_path)  # migrates the new file, as the service would
    assert first.returncode == 0, first.stderr
    assert "handoffs: 永久保存" in first.stdout and "access_log: 保存1096天，删除 0 行" in first.stdout
    engine = create_engine(load_settings(database_url=env["DATABASE_URL"]))
    try:
        async with async_sessionmaker(engine).begin() as session:
            now = Clock().now()
            session.add_all([_read("four-years-ago", now - 4 * 365 * DAY), _read("yesterday", now - DAY)])
        second = run_server("retention", env=env, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert "access_log: 保存1096天，删除 1 行" in second.stdout
        async with async_sessionmaker(engine).begin() as session:
            assert list(await session.scalars(select(AccessRecord.subject_id))) == ["yesterday"]
    finally:
        await engine.dispose()


def test_the_retention_command_refuses_a_database_not_yet_migrated(tmp_path):
    """Where the service does not migrate by itself (PostgreSQL's default), the command says what to run."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/new.db", "MIGRATE_ON_START": "false"}
    refused = run_server("retention", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "请先运行 python server.py migrate" in refused.stderr
