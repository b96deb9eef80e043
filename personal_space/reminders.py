"""Proactive reminders (主动提醒) into the notifications outbox.

Licence expiry: at the stages of data/reminder_stages.yaml (days before the last valid day),
to the holder, or for an enterprise to its legal representative and its active agents. The
outbox key names holder, licence, expiry date, stage, recipient and channel: a renewed licence
(a new expiry date) starts its stages again, and planning twice adds nothing.

The planner covers the days since its last run (at most a week back), so a missed day is made
up, and takes for each licence only the latest stage reached: someone who should have heard at
90 and 30 days while the service was down hears once, at 30.

容缺 materials are reminded 3 and 1 days before their promised date and on the day, while the
application is open. Application state changes are announced from personal_space.applications
when their events arrive.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys, system_state
from core.datafile import load_model
from core.db import transaction
from core.outbox import Draft, enqueue
from core.tasks import worker
from personal_space.documents import NOT_RENEWED, held_by
from personal_space.models import Application, DeferredMaterial, Document, EnterpriseMember, WeChatAccount
from personal_space.people import LEGAL_REPRESENTATIVE

log = logging.getLogger("personal_space")

STAGES_FILE = Path(__file__).parent / "data" / "reminder_stages.yaml"
PLANNED_KEY = "reminders.planned_through"  # system_state: the last day planned
CATCH_UP_DAYS = 7
PLAN_INTERVAL = 300.0  # seconds between planning rounds (each plans only new days)


class StageFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: list[int] = Field(min_length=1)
    kinds: dict[str, list[int]] = {}


@functools.cache
def load_stages() -> StageFile:
    """The stages file, read once per process (it ships with the code)."""
    return load_model(STAGES_FILE, StageFile)


def _stage_text(days: int) -> str:
    return "今天到期" if days == 0 else f"还有{days}天到期"


async def recipients_of(session: AsyncSession, holder_type: str, holder_id: str, today: date) -> list[str]:
    """ID numbers of who hears about a holder's licences."""
    if holder_type == "person":
        return [holder_id]
    rows = await session.scalars(select(EnterpriseMember).where(
        EnterpriseMember.uscc == holder_id, EnterpriseMember.revoked_at.is_(None),
        or_(EnterpriseMember.role == LEGAL_REPRESENTATIVE, EnterpriseMember.valid_until >= today)))
    return sorted({m.id_number for m in rows})


async def addresses(session: AsyncSession, id_numbers: list[str], channel: str) -> dict[str, tuple[str, str]]:
    """id_number → (channel, address): WeChat when the person has a bound account and that is the
    configured channel, the console otherwise. Of a person's accounts, one that has logged in to
    the mini-program wins (the official account's openid cannot take a subscribe message), then
    the latest bound."""
    found = {i: ("console", "console") for i in id_numbers}
    if channel == "wechat_subscribe" and id_numbers:
        rows = await session.execute(select(WeChatAccount.id_number, WeChatAccount.openid)
                                     .where(WeChatAccount.id_number.in_(id_numbers))
                                     .order_by(WeChatAccount.miniapp_login_at.is_not(None), WeChatAccount.bound_at))
        for id_number, openid in rows:
            found[id_number] = ("wechat_subscribe", openid)  # the last in that order wins
    return found


async def drafts_for(session: AsyncSession, holder_type: str, holder_id: str, key: str, kind: str,
                     data: dict[str, str], today: date, channel: str, page: str | None = None) -> list[Draft]:
    """One draft per person to tell, with `key` made unique per recipient and channel."""
    people = await recipients_of(session, holder_type, holder_id, today)
    return [Draft(key=f"{key}:{person}:{ch}", channel=ch, address=address, recipient=person, kind=kind, data=data,
                  page=page)
            for person, (ch, address) in (await addresses(session, people, channel)).items()]


async def plan_licence_reminders(session: AsyncSession, today: date, now: datetime, channel: str,
                                 since: date | None = None) -> int:
    """Queue the expiry reminders whose stage was reached after `since` and by `today`."""
    stages = load_stages()
    since = max(since or today - timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    all_stages = sorted(set(stages.default).union(*stages.kinds.values()))
    # A licence reaches stage d on valid_until - d: look for those with valid_until in (since + d, today + d].
    windows = or_(*[and_(Document.valid_until > since + timedelta(days=d), Document.valid_until <= today + timedelta(days=d))
                    for d in all_stages])
    # Only what has not yet expired: a planner that was down past a licence's last day has
    # nothing to remind of ("还有-3天到期"), and the personal space shows it as 过期.
    rows = await session.scalars(select(Document).where(Document.status == "valid", Document.valid_until >= today,
                                                        windows, NOT_RENEWED))
    queued = 0
    for document in rows:
        left = (document.valid_until - today).days
        reached = [d for d in _stages_of(document.kind) if d >= left and document.valid_until - timedelta(days=d) > since]
        if reached:
            queued += await _queue_licence(session, document, min(reached), today, now, channel)
    return queued


async def plan_arrived_licence(session: AsyncSession, document: Document, today: date, now: datetime,
                               channel: str) -> int:
    """A licence that arrives (or is renewed) already past a stage is reminded of it at once:
    the planner only looks at the stages reached since its last round, which this one missed."""
    if document.status != "valid" or document.valid_until is None:
        return 0
    if not await session.scalar(select(NOT_RENEWED).where(Document.id == document.id)):
        return 0  # a correction to a licence already renewed: nothing to remind of
    left = (document.valid_until - today).days
    reached = [d for d in _stages_of(document.kind) if d >= left >= 0]
    return await _queue_licence(session, document, min(reached), today, now, channel) if reached else 0


def _stages_of(kind: str) -> list[int]:
    stages = load_stages()
    return stages.kinds.get(kind, stages.default)


async def _queue_licence(session: AsyncSession, document: Document, stage: int, today: date, now: datetime,
                         channel: str) -> int:
    """The reminder of `stage` to everyone who should hear of it; its text says the days really left."""
    data = {"证照名称": document.kind, "证照编号": document.number, "有效期至": document.valid_until.isoformat(),
            "提醒": f"{document.kind}{_stage_text((document.valid_until - today).days)}，请及时办理延续或换证"}
    key = f"licence:{document.holder_id}:{document.id}:{document.valid_until.isoformat()}:{stage}"
    drafts = await drafts_for(session, document.holder_type, document.holder_id, key, "licence_expiry", data,
                              today, channel, page=f"pages/documents/detail?id={document.id}")
    return await enqueue(session, drafts, now)


DEFERRED_STAGES = (3, 1, 0)  # 容缺 materials: days before the promised date


async def plan_deferred_reminders(session: AsyncSession, today: date, now: datetime, channel: str,
                                  since: date | None = None) -> int:
    """Queue reminders of 容缺 materials whose promised date is near, for applications still open."""
    from personal_space.applications import ACTIVE  # applications announces through this module

    since = max(since or today - timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    windows = or_(*[and_(DeferredMaterial.due_date > since + timedelta(days=d),
                         DeferredMaterial.due_date <= today + timedelta(days=d)) for d in DEFERRED_STAGES])
    rows = await session.execute(select(DeferredMaterial, Application)
                                 .join(Application, Application.application_no == DeferredMaterial.application_no)
                                 .where(windows, DeferredMaterial.due_date >= today, Application.state.in_(ACTIVE)))
    queued = 0
    for material, application in rows:
        queued += await _queue_deferred(session, material, application, today, now, channel)
    return queued


async def plan_arrived_deferred(session: AsyncSession, application: Application, materials: list[DeferredMaterial],
                                today: date, now: datetime, channel: str) -> int:
    """容缺 materials that arrive already past a stage (accepted after the day's planning, due in
    three days or less) are reminded of it at once, as an arrived licence is."""
    from personal_space.applications import ACTIVE

    if application.state not in ACTIVE:
        return 0
    queued = 0
    for material in materials:
        if 0 <= (material.due_date - today).days <= max(DEFERRED_STAGES):
            queued += await _queue_deferred(session, material, application, today, now, channel)
    return queued


async def _queue_deferred(session: AsyncSession, material: DeferredMaterial, application: Application, today: date,
                          now: datetime, channel: str) -> int:
    """The reminder of the stage `material` has reached; its key makes it once per stage."""
    left = (material.due_date - today).days
    stage = min(d for d in DEFERRED_STAGES if d >= left)
    data = {"办件名称": application.item_name, "办件编号": application.application_no, "补交材料": material.name,
            "补交期限": material.due_date.isoformat(), "提醒": "今天是补交期限" if stage == 0 else f"还有{left}天到补交期限"}
    key = f"deferred:{application.application_no}:{material.name}:{material.due_date.isoformat()}:{stage}"
    drafts = await drafts_for(session, application.applicant_type, application.applicant_id, key,
                              "deferred_material", data, today, channel,
                              page=f"pages/applications/detail?no={application.application_no}")
    return await enqueue(session, drafts, now)


async def plan_due_reminders(app: web.Application) -> int:
    """Plan from the day after the last planned one through today, once (row lock on the marker)."""
    now = app[keys.CLOCK].now()
    today = now.date()
    async with transaction(app) as session:
        marker = await system_state.read_for_update(session, PLANNED_KEY)
        since = date.fromisoformat(marker.value) if marker else None
        if since is not None and since >= today:
            return 0
        channel = app[keys.SETTINGS].notify_channel
        queued = await plan_licence_reminders(session, today, now, channel, since)
        queued += await plan_deferred_reminders(session, today, now, channel, since)
        await system_state.write(session, PLANNED_KEY, today.isoformat(), now)
    log.info("reminders planned", extra={"through": today.isoformat(), "queued": queued})
    return queued


async def _plan(app: web.Application, _stopping) -> bool:
    await plan_due_reminders(app)
    return False  # each round plans only the days since the last


reminder_planner_context = worker("reminder planning", _plan, PLAN_INTERVAL, log)  # cleanup_ctx of the worker processes


async def upcoming(session: AsyncSession, holders: list[tuple[str, str]], today: date) -> list[dict]:
    """What the holders will be reminded of: licences in force that expire within the longest
    stage, with the day of their next reminder, soonest first."""
    if not holders:
        return []
    stages = load_stages()
    horizon = today + timedelta(days=max(max(stages.default), *(max(s) for s in stages.kinds.values())))
    rows = await session.scalars(select(Document).where(
        held_by(holders), Document.status == "valid", Document.valid_until >= today, Document.valid_until <= horizon,
        NOT_RENEWED))
    rank = {holder: position for position, holder in enumerate(holders)}  # a tie: the person's own first
    ordered = sorted(rows, key=lambda d: (d.valid_until, d.kind, rank[(d.holder_type, d.holder_id)], d.id))
    return [_upcoming_entry(document, today, stages) for document in ordered]


def _upcoming_entry(document: Document, today: date, stages: StageFile) -> dict:
    left = (document.valid_until - today).days
    ahead = [d for d in stages.kinds.get(document.kind, stages.default) if d <= left]
    return {"document_id": document.id, "kind": document.kind, "holder_name": document.holder_name,
            "valid_until": document.valid_until, "days_left": left,
            "next_reminder_on": document.valid_until - timedelta(days=max(ahead)) if ahead else None,
            "message": f"{document.kind}{_stage_text(left)}"}
