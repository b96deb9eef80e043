"""The console's lists: work queues, search, 督办 records and department KPIs.

Queues page by keyset (the last row's sort key), not by offset, so a deep page costs what the
first one does; each queue's filter and order match one of the tickets' indexes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Select, Text, and_, case, cast, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratings
from core.calendar import WorkingCalendar
from core.errors import InvalidInput
from hotline import rules
from hotline.models import Supervision, Ticket, TicketRating

PAGE = 50
QUEUES = {
    "new": "待派单",  # registered or returned: waiting for an agent
    "due_soon": "即将到期（黄牌）",
    "overdue": "已超期（红牌）",
    "department": "按承办单位",
    "assisting": "协办工单",  # open tickets a department assists (协办) on; it names the department
    "unsigned": "待签收",
    "answered": "待回访",
    "ratings": "待认定差评",
}
DEPARTMENT_QUEUES = ("department", "assisting", "unsigned", "due_soon", "overdue")


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next: str | None  # cursor of the next page


def _cursor(value: datetime, number: str) -> str:
    return base64.urlsafe_b64encode(f"{value.isoformat()}|{number}".encode()).decode()


def _uncursor(cursor: str) -> tuple[datetime, str]:
    try:
        value, number = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        moment = datetime.fromisoformat(value)
        # _cursor writes an aware moment of a stored row; anything else was made up (and a moment
        # UTC cannot hold, such as 0001-01-01 in Beijing, would fail in the query).
        if moment.tzinfo is None:
            raise ValueError(value)
        moment.astimezone(timezone.utc)
        return moment, number
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise InvalidInput("翻页参数无效", code="invalid_cursor") from None


async def queue(session: AsyncSession, name: str, now: datetime, calendar: WorkingCalendar, *,
                department: str | None = None, after: str | None = None, limit: int = PAGE) -> Page:
    """One page of a queue, oldest deadline (or oldest arrival) first; the calendar says which
    tickets are 即将到期 (rules.yellow_until)."""
    pending = Ticket.pending.is_(True)
    key = Ticket.due_at
    if name == "new":
        query, key = select(Ticket).where(Ticket.state.in_(["registered", "returned"])), Ticket.created_at
    elif name == "due_soon":
        query = select(Ticket).where(pending, Ticket.due_at >= now,
                                     Ticket.due_date <= rules.yellow_until(calendar, now.date()))
    elif name == "overdue":
        query = select(Ticket).where(pending, Ticket.due_at < now)
    elif name == "department":
        # A ticket returned (退单) waits for the hotline, not the department: it is in "new".
        query = select(Ticket).where(pending, Ticket.holder.is_not(None))
    elif name == "assisting":
        if department is None:
            raise InvalidInput("协办工单须指定承办单位", code="department_required")
        return await _page(session, select(Ticket).where(pending, Ticket.holder.is_not(None), _assists(department)),
                           key, after, limit)
    elif name == "unsigned":
        query = select(Ticket).where(pending, Ticket.state.in_(["dispatched", "reopened"]))
    elif name == "answered":
        query, key = select(Ticket).where(Ticket.state == "replied"), Ticket.replied_at
    elif name == "ratings":
        query, key = (select(Ticket).join(TicketRating, and_(TicketRating.ticket_no == Ticket.number,
                                                             TicketRating.round == Ticket.reopen_count))
                      .where(TicketRating.needs_judgement.is_(True), TicketRating.reasonable.is_(None))), \
            Ticket.updated_at
    else:
        raise InvalidInput(f"未知的队列：{name}", code="unknown_queue")
    if department is not None:  # theirs to answer: not while a return waits for the hotline
        query = query.where(Ticket.held_by(department))
    return await _page(session, query, key, after, limit)


def _assists(department: str):
    """The condition "`department` is among the ticket's assisting departments": a match in the
    stored JSON list, alike on PostgreSQL and SQLite (department codes are letters and digits)."""
    return cast(Ticket.assist_departments, Text).like(f'%"{department}"%')


async def _page(session: AsyncSession, query: Select, key, after: str | None, limit: int) -> Page:
    if after is not None:
        value, number = _uncursor(after)
        query = query.where(tuple_(key, Ticket.number) > tuple_(value, number))
    rows = list(await session.scalars(query.order_by(key, Ticket.number).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _cursor(getattr(rows[-1], key.key), rows[-1].number) if more else None
    return Page(rows, next_cursor)


async def search(session: AsyncSession, text: str, *, department: str | None = None, limit: int = PAGE
                 ) -> list[Ticket]:
    """By ticket number (whole, any case) or by the contact's phone number, newest first."""
    text = "".join(text.split()).upper()
    if text.startswith("GD"):
        query = select(Ticket).where(Ticket.number == text)
    elif text.removeprefix("+86").isdigit():
        query = select(Ticket).where(Ticket.contact_phone == text.removeprefix("+86"))
        if department is not None:  # departments never search anonymous callers by phone
            query = query.where(Ticket.anonymous.is_(False))
    else:
        raise InvalidInput("请输入工单编号（GD开头）或联系电话", code="invalid_search")
    if department is not None:  # a department finds the tickets it leads
        query = query.where(Ticket.lead_department == department)
    return list(await session.scalars(query.order_by(Ticket.created_at.desc()).limit(limit)))


async def supervisions(session: AsyncSession, *, department: str | None = None, after: int | None = None,
                       limit: int = PAGE) -> list[Supervision]:
    """督办 records, newest first."""
    query = select(Supervision)
    if department is not None:
        query = query.where(Supervision.department == department)
    if after is not None:
        query = query.where(Supervision.id < after)
    return list(await session.scalars(query.order_by(Supervision.id.desc()).limit(limit)))


@dataclass(frozen=True)
class DepartmentKpi:
    department: str
    assigned: int  # tickets led, open or answered
    replied: int
    on_time: int
    open_overdue: int
    reply_rate: float | None
    on_time_rate: float | None  # replied in time ÷ (replied + open overdue)
    satisfaction_rate: float | None  # 非常满意/满意/基本满意 ÷ rated
    average_reply_working_days: float | None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def department_kpis(session: AsyncSession, now: datetime, since: date | None = None) -> list[DepartmentKpi]:
    """KPIs per lead department over the tickets registered since `since` (all when None)."""
    where = [Ticket.lead_department.is_not(None)]
    if since is not None:
        where.append(Ticket.accepted_on >= since)
    counts = await session.execute(
        select(Ticket.lead_department,
               func.count(),
               func.count(Ticket.replied_at),
               func.sum(case((Ticket.replied_at <= Ticket.due_at, 1), else_=0)),  # due_at stays put once replied
               # overdue and theirs to answer (not while a return waits for the hotline)
               func.sum(case((and_(Ticket.pending.is_(True), Ticket.holder.is_not(None), Ticket.due_at < now), 1),
                             else_=0)),
               func.avg(Ticket.reply_working_days))
        .where(*where).group_by(Ticket.lead_department))
    rating_where = [TicketRating.department.is_not(None)]
    if since is not None:
        rating_where.append(TicketRating.rated_at >= datetime(since.year, since.month, since.day, tzinfo=now.tzinfo))
    rated = {d: (total, good) for d, total, good in await session.execute(
        select(TicketRating.department, func.count(),
               func.sum(case((TicketRating.level.in_(ratings.SATISFIED), 1), else_=0)))
        .where(*rating_where).group_by(TicketRating.department))}
    result = []
    for department, assigned, replied, on_time, overdue, average in counts:
        on_time, overdue = int(on_time or 0), int(overdue or 0)
        total, good = rated.get(department, (0, 0))
        result.append(DepartmentKpi(
            department=department, assigned=assigned, replied=replied, on_time=on_time, open_overdue=overdue,
            reply_rate=_rate(replied, assigned), on_time_rate=_rate(on_time, replied + overdue),
            satisfaction_rate=_rate(int(good or 0), total),
            average_reply_working_days=None if average is None else round(float(average), 2)))
    return sorted(result, key=lambda k: k.department)
