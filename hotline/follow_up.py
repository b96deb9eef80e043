"""Bad service ratings (差评) of applications become 投诉 tickets, so each one is answered within
the hotline's deadlines. A worker takes them from the personal space every minute; the ticket and
the "taken up" mark are written in one transaction, and the ticket's source key makes it once only.
"""

from __future__ import annotations

import logging

from aiohttp import web

from core.db import transaction
from core.tasks import worker
from hotline.service import context
from hotline.tickets import SYSTEM, NewTicket, register
from personal_space import applications, people

log = logging.getLogger("hotline")
INTERVAL = 60.0


async def open_rating_tickets(app: web.Application, limit: int = 100) -> list[str]:
    """Turn waiting bad ratings into tickets; the new ticket numbers."""
    ctx = context(app)
    opened = []
    async with transaction(app) as session:
        for rating, application in await applications.ratings_needing_follow_up(session, limit):
            person = await people.person(session, rating.rated_by)
            content = (f"办件{application.application_no}（{application.item_name}，{application.department}）"
                       f"获“{rating.level}”评价，原因：{rating.reason or '未说明'}。请核实并答复。")
            ticket = await register(session, NewTicket(
                type="投诉", content=content, channel="rating", citizen_id=rating.rated_by,
                contact_name=person.name if person else None, contact_phone=person.phone if person else None,
                application_no=application.application_no, source_key=f"rating:{application.application_no}",
                extra={"rating": rating.level, "department": application.department}), SYSTEM, ctx)
            applications.mark_followed_up(rating, ctx.now)
            opened.append(ticket.number)
    if opened:
        log.info("bad ratings opened as tickets", extra={"tickets": len(opened)})
    return opened


async def _follow_up(app: web.Application, _stopping) -> bool:
    return len(await open_rating_tickets(app)) > 0


rating_follow_up_context = worker("bad rating follow-up", _follow_up, INTERVAL, log)  # cleanup_ctx of the processes that run the workers
