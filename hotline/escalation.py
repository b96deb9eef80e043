"""Deadline watch (督办): yellow and red cards, sign-for alerts, and provisional deadlines.

One scan is a handful of set-based statements over the open tickets, so it stays cheap with a
million tickets on file:

- 红牌 when the deadline has passed: a 督办 record, notices to the department and supervisors;
- 黄牌 when one working day or less is left: a notice to the department;
- a ticket not signed for by the end of the next working day after dispatch: a notice;
- while a card stands, the notice repeats once per working day (never on a day off).

Notices go out as one digest per department and kind per scan, not one message per ticket.
Scans are serialised by a row lock on a marker, so several workers can run the same loop.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from aiohttp import web
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys, system_state
from core.calendar import WorkingCalendar
from core.db import insert_for, transaction
from core.outbox import Draft, enqueue
from core.tasks import worker
from hotline import catalogue, rules, tickets
from hotline.models import Supervision, Ticket

log = logging.getLogger("hotline")
MARKER = "hotline_escalation"
SCAN_INTERVAL = 60.0
SUPERVISORS, HOTLINE = "supervisors", "hotline"  # staff notice recipients besides departments
_KIND_TEXT = {"red": "已超期（红牌）", "yellow": "即将到期（黄牌）", "sign_overdue": "超过签收期限未签收"}


async def _raise(session: AsyncSession, condition, values: dict) -> list:
    statement = (update(Ticket).where(condition).values(**values)
                 .returning(Ticket.number, Ticket.holder.label("holder"), Ticket.due_at, Ticket.card)
                 .execution_options(synchronize_session=False))
    return list(await session.execute(statement))


async def scan(session: AsyncSession, calendar: WorkingCalendar, now: datetime) -> dict[str, int]:
    """Raise the cards and alerts due at `now`; what was raised, by kind."""
    today = now.date()
    yellow_until = rules.yellow_until(calendar, today)
    working_today = calendar.is_working_day(today)
    pending = Ticket.pending.is_(True)
    raised: dict[str, list] = {}
    # Only this scan raises cards (an action may only lower one), so a card is always notified.
    raised["red"] = await _raise(session, and_(pending, Ticket.due_at < now, Ticket.card != "red"),
                                 {"card": "red", "card_notified_on": today})
    raised["yellow"] = await _raise(session, and_(pending, Ticket.due_at >= now, Ticket.due_date <= yellow_until,
                                                  Ticket.card == "none"),
                                    {"card": "yellow", "card_notified_on": today})
    repeats = []
    if working_today:
        repeats = await _raise(session, and_(pending, Ticket.card.in_(["yellow", "red"]),
                                             Ticket.card_notified_on < today), {"card_notified_on": today})
    unsigned = Ticket.state.in_(["dispatched", "reopened"]) & (Ticket.sign_due_date < today)
    not_alerted = Ticket.sign_alerted_on.is_(None)
    if working_today:
        not_alerted = or_(not_alerted, Ticket.sign_alerted_on < today)
    raised["sign_overdue"] = await _raise(session, and_(unsigned, not_alerted), {"sign_alerted_on": today})
    for row in repeats:
        raised[row.card].append(row)
    await _record(session, raised, now)
    await _notify(session, raised, now)
    return {kind: len(rows) for kind, rows in raised.items()}


async def _record(session: AsyncSession, raised: dict[str, list], now: datetime) -> None:
    rows = [dict(ticket_no=r.number, kind=kind, raised_on=now.date(), department=r.holder, due_at=r.due_at,
                 created_at=now) for kind, found in raised.items() for r in found]
    if rows:  # one statement compiled once, the rows sent by the driver in batches (executemany)
        await session.execute(insert_for(session, Supervision).on_conflict_do_nothing(), rows)


async def _notify(session: AsyncSession, raised: dict[str, list], now: datetime) -> None:
    """One digest per recipient and kind: the department (or the hotline while no department
    holds the ticket: `Ticket.holder`), and the supervisors for red cards."""
    by_recipient: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, rows in raised.items():
        for row in rows:
            by_recipient[(kind, row.holder or HOTLINE)].append(row.number)
            if kind == "red":
                by_recipient[(kind, SUPERVISORS)].append(row.number)
    names = catalogue.departments()
    drafts = []
    for (kind, recipient), numbers in sorted(by_recipient.items()):
        who = names.get(recipient, "12345热线" if recipient == HOTLINE else "督办员")
        data = {"接收": who, "事项": f"{len(numbers)}件工单{_KIND_TEXT[kind]}",
                "工单编号": "、".join(sorted(numbers)[:20]) + ("等" if len(numbers) > 20 else "")}
        drafts.append(Draft(key=f"escalation:{now.isoformat()}:{kind}:{recipient}", channel="console",
                            address=f"staff:{recipient}", recipient=f"staff:{recipient}", kind=f"ticket_{kind}",
                            data=data))
    await enqueue(session, drafts, now)


async def run_scan(app: web.Application) -> dict[str, int]:
    """One scan in its own transaction, after any other worker's (row lock on the marker)."""
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        await system_state.read_for_update(session, MARKER)
        counts = await scan(session, app[keys.CALENDAR].current, now)
        await system_state.write(session, MARKER, now.isoformat(), now)
    if any(counts.values()):
        log.info("tickets escalated", extra=counts)
    return counts


async def recompute_provisional(session: AsyncSession, calendar: WorkingCalendar, _now: datetime) -> None:
    """Calendar hook: tickets whose deadline was forecast get it from the new calendar, answered
    ones too (whether an answer was in time is judged against the real deadline). Only an open
    ticket's card follows the new date: a closed one's cards are history."""
    rows = await session.scalars(select(Ticket).where(Ticket.due_provisional.is_(True)).with_for_update())
    for ticket in rows:
        before = ticket.due_date
        tickets.set_deadline(ticket, calendar)
        if ticket.pending and ticket.due_date != before:
            ticket.card, ticket.card_notified_on = "none", None  # the next scan raises what the new date calls for


async def _scan(app: web.Application, _stopping) -> bool:
    await run_scan(app)
    return False  # the next one in a minute


escalation_context = worker("ticket escalation", _scan, SCAN_INTERVAL, log)  # cleanup_ctx of the processes that run the workers
