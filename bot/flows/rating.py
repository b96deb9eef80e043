"""好差评 of a ticket's answer: which ticket (named, or the latest answered one), five levels,
and a reason for the two bad ones (which go back to the hotline for review)."""

from __future__ import annotations

from bot.texts import NEED_BINDING, choice, numbered
from bot.turn import Turn
from core import ratings
from core.db import transaction
from hotline import tickets
from hotline.service import context

LEVELS = list(ratings.LEVELS)


async def start(turn: Turn, ticket_no: str | None) -> str:
    """Rate the ticket `ticket_no` (when the message named one) or the latest answered, unrated one."""
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        ratable = [] if person is None else await tickets.ratable_tickets(
            session, tickets.Actor("citizen", person.id_number, person.name), ticket_no)
    if person is None:
        turn.conversation.leave()
        return NEED_BINDING
    if not ratable:
        turn.conversation.leave()
        return "暂时没有可评价的工单：工单答复后即可评价。"
    ticket = ratable[0]
    turn.conversation.enter("rating", "level", number=ticket.number)
    return f"请为工单 {ticket.number} 的答复打分：\n{numbered(LEVELS)}"


async def level_given(turn: Turn) -> str:
    picked = choice(turn.text, LEVELS)
    if picked is None:
        return f"请回复序号 1–5 选择：\n{numbered(LEVELS)}"
    level = LEVELS[picked]
    turn.conversation.data["level"] = level
    if level in ratings.BAD:
        turn.conversation.step = "reason"
        return "很抱歉让您不满意，请告诉我们原因，我们会重新核查。"
    return await _rate(turn, None)


async def reason_given(turn: Turn) -> str:
    if len(turn.text) < 2:
        return "请简单说明不满意的原因。"
    return await _rate(turn, turn.text[:1000])


async def _rate(turn: Turn, reason: str | None) -> str:
    data = turn.conversation.data
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        if person is None:  # unbound in the mini-program since the rating began
            turn.conversation.leave()
            return NEED_BINDING
        actor = tickets.Actor("citizen", person.id_number, person.name)
        ticket = await tickets.get_ticket(session, data["number"], actor, for_update=True)
        await tickets.perform(session, ticket, actor, "rate", {"level": data["level"], "note": reason}, context(turn.app))
    turn.conversation.leave()
    if data["level"] in ratings.BAD:
        return "已收到您的评价。12345热线将核实情况，必要时安排重新办理，并在规定时限内答复您。"
    return "感谢您的评价！"


STEPS = {"level": level_given, "reason": reason_given}
