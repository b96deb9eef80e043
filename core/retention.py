"""Retention (保存期限): personal data the service deletes by itself once it has served its purpose.

| what | deleted when older than | setting (days; 0 keeps it for ever) |
|---|---|---|
| sent notifications (`outbox` rows delivered, or ended as permanent failures): recipient, openid, text | 180 days after they were queued | `RETENTION_OUTBOX_DAYS` |
| handoffs (转人工): the chat transcript and the agents' replies | 180 days after the last message, answer or closing (an open one left untouched that long goes too: WeChat lets no answer reach the user after 48 hours) | `RETENTION_HANDOFF_DAYS` |
| the citizen's access log (who read their data; PIPL art. 56 asks for three years) | 1,096 days | `RETENTION_ACCESS_LOG_DAYS` |

Never deleted here: the ids of applied back-office events (`integration_events`: no personal
data, and an event sent again after its id went would be applied again, an undone binding
made again); government records (people and their bindings, enterprises, licences,
applications and their events, tickets and their events, ratings, 督办) and staff. An outbox row
that is still to be sent, or ended in a failure someone has to look at (`technical-failure`),
stays. A sent reminder's row is what stops it being sent again (a licence update queues the
latest stage reached): it must outlive the longest reminder stage and the planner's 7-day
look-back, hence the outbox's minimum (`core.settings.MIN_OUTBOX_DAYS`).

Each rule deletes at most BATCH rows per transaction, oldest first, found by an index on its
time column; the worker runs again at
once while a rule had more, so a first run on a large database does not hold long locks. Any
number of worker processes may run it (PostgreSQL: `SKIP LOCKED`).
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import keys, outbox
from core.clock import Clock
from core.db import create_engine, transaction
from core.migrate import current_revision, head_revision, migrate
from core.settings import Settings
from core.tasks import worker

log = logging.getLogger("retention")

BATCH = 1000
INTERVAL = 3600.0  # seconds between passes once nothing is left to delete


@dataclass(frozen=True)
class Rule:
    name: str
    setting: str  # Settings field: days kept, 0 for ever
    key: ColumnElement  # the column that names a row
    age: ColumnElement  # when the row's time began
    only: tuple[ColumnElement, ...] = ()  # further conditions: which rows may go at all
    dependents: tuple[ColumnElement, ...] = ()  # foreign keys to the row: their rows go with it

    def days(self, app: web.Application) -> int:
        return getattr(app[keys.SETTINGS], self.setting)


@functools.cache
def rules() -> tuple[Rule, ...]:
    # Imported here: core does not depend on the feature packages when it is loaded.
    from hotline.models import Handoff, HandoffReply
    from personal_space.models import AccessRecord

    sent = outbox.OutboxMessage
    return (
        Rule("outbox", "retention_outbox_days", sent.id, sent.created_at,
             only=(sent.state.in_([outbox.DELIVERED, outbox.PERMANENT]),)),
        Rule("handoffs", "retention_handoff_days", Handoff.id, Handoff.updated_at,
             dependents=(HandoffReply.handoff_id,)),
        Rule("access_log", "retention_access_log_days", AccessRecord.id, AccessRecord.at),
    )


def oldest(rule: Rule, cutoff: datetime | ColumnElement) -> Select:
    """The keys of up to BATCH of the rule's rows older than `cutoff`, oldest first (read by the
    index on the rule's `age` column, migration 0010)."""
    return select(rule.key).where(rule.age < cutoff, *rule.only).order_by(rule.age).limit(BATCH)


async def _purge_batch(session: AsyncSession, rule: Rule, cutoff: datetime) -> int:
    """Delete up to BATCH of the rule's rows older than `cutoff`, oldest first; how many went."""
    query = oldest(rule, cutoff)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(await session.scalars(query))
    if ids:
        for foreign_key in rule.dependents:
            await session.execute(delete(foreign_key.table).where(foreign_key.in_(ids)))
        await session.execute(delete(rule.key.table).where(rule.key.in_(ids)))
    return len(ids)


async def purge(app: web.Application, now: datetime) -> dict[str, int]:
    """One pass: per rule, how many rows went (at most BATCH each, each rule in its own transaction)."""
    deleted = {}
    for rule in rules():
        days = rule.days(app)
        if days <= 0:
            continue
        try:
            async with transaction(app) as session:
                deleted[rule.name] = await _purge_batch(session, rule, now - timedelta(days=days))
        except Exception:  # noqa: BLE001 - one rule failing does not stop the others; tried again next pass
            log.exception("retention: deleting failed", extra={"rule": rule.name})
            deleted[rule.name] = 0
    if any(deleted.values()):
        log.info("retention: old rows deleted", extra={"deleted": deleted})
    return deleted


def _more_left(deleted: dict[str, int]) -> bool:
    return any(count == BATCH for count in deleted.values())


async def purge_all(app: web.Application) -> dict[str, int]:
    """Passes until nothing is left to delete (the `retention` command); the totals per rule."""
    totals = {rule.name: 0 for rule in rules() if rule.days(app) > 0}
    while True:
        deleted = await purge(app, app[keys.CLOCK].now())
        for name, count in deleted.items():
            totals[name] += count
        if not _more_left(deleted):
            return totals


async def _pass(app: web.Application, _stopping) -> bool:
    return _more_left(await purge(app, app[keys.CLOCK].now()))  # more left: again at once


retention_context = worker("retention", _pass, INTERVAL, log)  # cleanup_ctx of the processes that run the workers


async def main(settings: Settings, *, clock: Clock | None = None) -> int:
    """`python server.py retention`: delete now what the rules allow; print how many rows went."""
    engine = create_engine(settings)
    app = web.Application()
    app[keys.SETTINGS], app[keys.CLOCK] = settings, clock or Clock()
    app[keys.SESSIONS] = async_sessionmaker(engine, expire_on_commit=False)
    try:
        if settings.migrate_on_start:
            await migrate(engine)
        elif await current_revision(engine) != head_revision():
            print("数据库尚未迁移到最新版本，请先运行 python server.py migrate", file=sys.stderr)
            return 1
        totals = await purge_all(app)
    finally:
        await engine.dispose()
    for rule in rules():
        days = rule.days(app)
        kept = "永久保存" if days <= 0 else f"保存{days}天，删除 {totals[rule.name]} 行"
        print(f"{rule.name}: {kept}")
    return 0
