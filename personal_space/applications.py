"""Applications (办件): status events from the acceptance platform, applied once and read in
event-time order, whatever order they arrive in.

Every event is stored; the application's state, open 补齐补正 notice, 容缺 materials and
promised date are recomputed from the whole ordered history on each arrival, so a late event
slots into its place instead of overwriting a newer one.

The promised date (承诺办结时间) counts `promised_working_days` working days from the day of
acceptance (not counted); working days spent in `suspended` (特别程序) are added on. While an
application is suspended its clock is stopped: it has no promised date, only the working days
left, and the date is counted again when the next state arrives.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratings
from core.calendar import WorkingCalendar
from core.db import grouped, serialise
from core.limits import FailureBudget
from core.errors import Conflict, InvalidInput, NotFound
from core.outbox import enqueue
from personal_space import access_log
from personal_space.models import Application, ApplicationEvent, ApplicationRating, DeferredMaterial
from personal_space.people import ensure_enterprise, ensure_person, id_number_or_error, uscc_or_error
from personal_space.reminders import drafts_for, plan_arrived_deferred

STATES = {
    "submitted": "已申报", "pre_accepted": "预受理", "accepted": "已受理", "in_review": "审查中",
    "approved": "办结（准予）", "rejected": "办结（不予）", "issued": "已出件",
    "supplement_requested": "补齐补正", "not_accepted": "不予受理", "suspended": "特别程序（计时暂停）",
    "withdrawn": "已撤回",
}
CONCLUDED = {"approved", "rejected", "issued", "not_accepted"}
ACTIVE = {"pre_accepted", "accepted", "in_review", "supplement_requested", "suspended"}
_PASSWORD_ROUNDS = 20_000
# Failed query-password lookups per caller (address or WeChat user) and per number, in 10 minutes:
# shared by every channel, so switching from the mini-program to the bot buys no extra guesses.
LOOKUPS = FailureBudget("personal_space:lookup", limit=10, window=600)


class ApplicationNotFound(NotFound):
    code = "application_not_found"
    message = "未找到该办件，请核对办件编号和查询密码"


def password_hash(application_no: str, password: str) -> str:
    """The 查询密码 stretched with the number as salt: six digits are few, so make each guess cost."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), application_no.encode(), _PASSWORD_ROUNDS).hex()


async def apply_event(session: AsyncSession, event: dict, calendar: WorkingCalendar, now: datetime,
                      channel: str = "console") -> Application:
    """Store one status event and recompute the application from its whole history; when the
    state changes, the applicant is told (through the outbox, in this transaction)."""
    number = event["application_no"]
    await serialise(session, f"application:{number}")  # two first events at once: one creates it, one updates
    application = await session.get(Application, number, with_for_update=True)
    before = application.state if application is not None else None
    applicant = event["applicant"]
    if applicant["type"] == "person":
        applicant_id = (await ensure_person(session, id_number_or_error(applicant["id"]), applicant["name"], now)).id_number
    else:
        applicant_id = (await ensure_enterprise(session, uscc_or_error(applicant["id"]), applicant["name"], now)).uscc
    if application is None:
        application = Application(application_no=number, state=event["state"], missing_materials=[],
                                  due_provisional=False, updated_at=now)
        session.add(application)
    elif (application.applicant_type, application.applicant_id) != (applicant["type"], applicant_id):
        raise Conflict("该办件编号已属于其他申请人", code="applicant_mismatch")
    application.applicant_type, application.applicant_id = applicant["type"], applicant_id
    if application.password_hash is None or await _newest(session, number, event["occurred_at"]):
        # What the event says of the application itself holds unless a later event said otherwise:
        # a delayed older one must not bring back an old query password or time limit.
        application.applicant_name = applicant["name"]
        for field in ("item_code", "item_name", "department"):
            setattr(application, field, event[field])
        if event.get("query_password"):
            application.password_hash = password_hash(number, event["query_password"])
        if event.get("promised_working_days") is not None:
            application.promised_working_days = event["promised_working_days"]
    elif application.promised_working_days is None and event.get("promised_working_days") is not None:
        application.promised_working_days = event["promised_working_days"]  # older, but the only word on it
    if application.password_hash is None:
        raise InvalidInput("首次推送办件须带查询密码 query_password", code="query_password_missing")
    await session.flush()
    session.add(ApplicationEvent(application_no=number, event_id=event["event_id"], state=event["state"],
                                 occurred_at=event["occurred_at"], note=event.get("note"),
                                 missing_materials=event.get("missing_materials") or [],
                                 deferred_materials=_jsonable(event.get("deferred_materials") or []),
                                 received_at=now))
    await session.flush()
    events = await timeline(session, number)
    _recompute(application, events, calendar, now)
    added = await _sync_deferred(session, number, events)
    if application.state != before or len(events) == 1:
        await _announce(session, application, event["event_id"], channel, now)
    await plan_arrived_deferred(session, application, added, now.date(), now, channel)
    return application


async def _newest(session: AsyncSession, number: str, occurred_at: datetime) -> bool:
    """Whether an event of `occurred_at` is the application's latest so far (ties: the later arrival)."""
    latest = await session.scalar(select(func.max(ApplicationEvent.occurred_at))
                                  .where(ApplicationEvent.application_no == number))
    return latest is None or occurred_at >= latest


async def _announce(session: AsyncSession, application: Application, event_id: str, channel: str,
                    now: datetime) -> None:
    data = {"办件名称": application.item_name, "办件编号": application.application_no,
            "办理状态": STATES[application.state]}
    if application.due_date:
        data["承诺办结日"] = application.due_date.isoformat()
    elif application.state == "suspended":
        data["承诺办结日"] = paused_text(application)
    if application.missing_materials:
        data["需补正材料"] = "、".join(application.missing_materials)
    drafts = await drafts_for(session, application.applicant_type, application.applicant_id,
                              f"application:{application.application_no}:{event_id}", "application_state", data,
                              now.date(), channel, page=f"pages/applications/detail?no={application.application_no}")
    await enqueue(session, drafts, now)


def paused_text(application: Application) -> str:
    """What stands for the promised date while the clock is stopped."""
    if application.remaining_working_days is None:  # suspended before acceptance, or before this was kept
        return "特别程序期间暂停计时，恢复后顺延"
    return f"特别程序期间暂停计时，恢复后尚余{application.remaining_working_days}个工作日"


async def deferred_of(session: AsyncSession, number: str) -> list[DeferredMaterial]:
    """The materials promised later (容缺) under the application's acceptance, by date."""
    return (await deferred_of_each(session, [number]))[number]


async def deferred_of_each(session: AsyncSession, numbers: list[str]) -> dict[str, list[DeferredMaterial]]:
    """Each application's 容缺 materials by date, in one query."""
    return await grouped(session, select(DeferredMaterial).order_by(DeferredMaterial.due_date, DeferredMaterial.id),
                         DeferredMaterial.application_no, numbers)


async def _sync_deferred(session: AsyncSession, number: str, events: list[ApplicationEvent]) -> list[DeferredMaterial]:
    """One row per 容缺 material of the (earliest) acceptance, so reminders can find them by date;
    the rows written now (none when they stand as they were; reminders are once per stage, so
    rows written again tell nobody twice)."""
    accepted = next((e for e in events if e.state == "accepted"), None)
    wanted = [(m["name"], date.fromisoformat(m["due_date"])) for m in (accepted.deferred_materials if accepted else [])]
    if [(m.name, m.due_date) for m in await deferred_of(session, number)] == wanted:
        return []
    await session.execute(delete(DeferredMaterial).where(DeferredMaterial.application_no == number))
    rows = [DeferredMaterial(application_no=number, name=name, due_date=due) for name, due in wanted]
    session.add_all(rows)
    return rows


def _jsonable(materials: list[dict]) -> list[dict]:
    return [{**m, "due_date": m["due_date"].isoformat() if isinstance(m.get("due_date"), date) else m.get("due_date")}
            for m in materials]


async def timeline(session: AsyncSession, number: str) -> list[ApplicationEvent]:
    """The events in the order they happened (ties: in the order they came)."""
    return (await timelines(session, [number]))[number]


async def timelines(session: AsyncSession, numbers: list[str]) -> dict[str, list[ApplicationEvent]]:
    """Each application's events in the order they happened, in one query."""
    return await grouped(session, select(ApplicationEvent).order_by(ApplicationEvent.occurred_at, ApplicationEvent.id),
                         ApplicationEvent.application_no, numbers)


def _recompute(application: Application, events: list[ApplicationEvent], calendar: WorkingCalendar,
               now: datetime) -> None:
    last = events[-1]
    application.state = last.state
    application.missing_materials = last.missing_materials if last.state == "supplement_requested" else []
    accepted = next((e for e in events if e.state == "accepted"), None)
    application.accepted_on = accepted.occurred_at.date() if accepted else None
    application.updated_at = now
    _promise(application, events, calendar)


def _promise(application: Application, events: list[ApplicationEvent], calendar: WorkingCalendar) -> None:
    """Set the promised date (the working days paused while suspended added on) and whether it is
    a forecast; or, while suspended, the working days left and no date (the clock is stopped, so
    any date would be passed by the pause). Nothing before acceptance: the clock has not started."""
    application.due_date, application.due_provisional, application.remaining_working_days = None, False, None
    if application.accepted_on is None or application.promised_working_days is None:
        return
    paused, suspended_on = _paused_working_days(events, calendar, application.accepted_on)
    if suspended_on is not None:
        used = calendar.working_days_between(application.accepted_on, suspended_on) - paused
        application.remaining_working_days = max(0, application.promised_working_days - used)
        application.due_provisional = calendar.is_provisional(application.accepted_on, suspended_on)
        return
    deadline = calendar.deadline(application.accepted_on, application.promised_working_days + paused)
    application.due_date, application.due_provisional = deadline.due_date, deadline.provisional


async def recompute_provisional(session: AsyncSession, calendar: WorkingCalendar, now: datetime) -> None:
    """Calendar hook: applications whose promised date (or days left) was forecast get it from the new calendar."""
    rows = list(await session.scalars(select(Application).where(Application.due_provisional.is_(True))
                                      .with_for_update()))
    history = await timelines(session, [application.application_no for application in rows])
    for application in rows:
        _promise(application, history[application.application_no], calendar)


def _paused_working_days(events: list[ApplicationEvent], calendar: WorkingCalendar,
                         accepted_on: date) -> tuple[int, date | None]:
    """Working days spent in suspensions that have ended (from each to the next other state), and
    the day the suspension under way began (None when the application is not suspended). Only
    the time after acceptance counts: before it the clock had not started."""
    paused, started = 0, None
    for event in events:
        if event.state == "suspended" and started is None:
            started = max(event.occurred_at.date(), accepted_on)
        elif event.state != "suspended" and started is not None:
            paused += max(0, calendar.working_days_between(started, event.occurred_at.date()))
            started = None
    return paused, started


async def applications_of(session: AsyncSession, holders: list[tuple[str, str]]) -> list[Application]:
    """The applications of these applicants (a person, their enterprises), latest change first."""
    if not holders:
        return []
    rows = await session.scalars(select(Application)
                                 .where(tuple_(Application.applicant_type, Application.applicant_id).in_(holders))
                                 .order_by(Application.updated_at.desc(), Application.application_no))
    return list(rows)


def normalise_number(number: str) -> str:
    """An application number as stored, however the caller typed it (sx2026… with spaces)."""
    return number.strip().upper()


def held(application: Application, holders: list[tuple[str, str]]) -> bool:
    """Whether one of `holders` (a person, their enterprises) is the applicant."""
    return (application.applicant_type, application.applicant_id) in holders


async def application_for(session: AsyncSession, number: str, holders: list[tuple[str, str]],
                          password: str | None) -> Application:
    """The application if the caller holds it or gives its query password; ApplicationNotFound
    otherwise, the same whether the number exists or not (the hash is computed either way)."""
    number = normalise_number(number)
    application = await session.get(Application, number)
    if application is not None and held(application, holders):
        return application
    if password is not None:
        given = password_hash(number, password)
        if application is not None and hmac.compare_digest(given, application.password_hash):
            return application
    raise ApplicationNotFound()


async def note_password_read(session: AsyncSession, application: Application, reader: access_log.Reader | None,
                             via: str, now: datetime) -> None:
    """An application read with its query password by someone who does not hold it goes in the
    applicant's access log: who (when logged in and bound), through which channel."""
    await access_log.record(session, application.applicant_type, application.applicant_id, access_log.QUERY_PASSWORD,
                            reader.id_number if reader else "", reader.name if reader else "未实名认证的用户",
                            f"办件 {application.application_no}（{via}，凭查询密码）", now)


async def rate(session: AsyncSession, application: Application, level: ratings.Level, reason: str | None, by: str,
               now: datetime) -> ApplicationRating:
    """好差评 by the owner of a concluded application, once; the two bad levels need a reason
    and are left for the hotline to follow up."""
    await serialise(session, f"application:{application.application_no}")  # a double tap rates once
    if application.state not in CONCLUDED:
        raise Conflict("办件办结后才能评价", code="application_not_concluded")
    if level in ratings.BAD and not (reason and reason.strip()):
        raise InvalidInput("选择“不满意”或“非常不满意”时请说明原因", code="rating_reason_required")
    if await session.get(ApplicationRating, application.application_no) is not None:
        raise Conflict("该办件已评价过", code="already_rated")
    rating = ApplicationRating(application_no=application.application_no, level=level,
                               reason=reason.strip() if reason else None, rated_by=by, rated_at=now,
                               needs_follow_up=level in ratings.BAD)
    session.add(rating)
    return rating


async def ratings_needing_follow_up(session: AsyncSession, limit: int = 100
                                    ) -> list[tuple[ApplicationRating, Application]]:
    """Bad ratings the hotline has not yet taken up, with their applications, oldest first and
    locked (SKIP LOCKED on PostgreSQL), for the hotline to turn into tickets in this transaction."""
    query = (select(ApplicationRating, Application)
             .join(Application, Application.application_no == ApplicationRating.application_no)
             .where(ApplicationRating.needs_follow_up.is_(True), ApplicationRating.followed_up_at.is_(None))
             .order_by(ApplicationRating.rated_at).limit(limit))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=ApplicationRating, skip_locked=True)
    return [(rating, application) for rating, application in await session.execute(query)]


def mark_followed_up(rating: ApplicationRating, now: datetime) -> None:
    """The hotline has opened a ticket for this rating (call in the same transaction)."""
    rating.followed_up_at = now
