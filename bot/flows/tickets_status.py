"""工单进度: a ticket by number; a bound user sees their own, anyone else names the phone number
the ticket was filed with."""

from __future__ import annotations

from sqlalchemy import select

from bot.turn import Turn
from core import keys
from core.db import transaction
from core.limits import FailureBudget
from hotline import rules, tickets
from hotline.models import Ticket
from hotline.service import context

# Wrong phone numbers per WeChat user and per ticket in 10 minutes. Ticket numbers follow a daily
# sequence: without a budget, someone who knows a phone number could walk the numbers and read
# every ticket filed with it (a 举报 included), three tries per conversation, forever.
LOOKUPS = FailureBudget("bot:ticket-lookup", limit=10, window=600)


async def start(turn: Turn, number: str | None) -> str:
    if number is None:
        person = await turn.person()
        if person is not None:
            latest = await _latest(turn, person.id_number)
            if latest is not None:
                turn.conversation.leave()
                return latest
        turn.conversation.enter("ticket_status", "number")
        return "请发送工单编号（GD开头，如GD20261118000042），回复“取消”退出。"
    return await _look_up(turn, number)


async def number_given(turn: Turn) -> str:
    number = turn.entities.ticket_no
    if number is None:
        return "没有识别到工单编号，请发送以GD开头的16位编号，或回复“取消”退出。"
    return await _look_up(turn, number)


async def _latest(turn: Turn, id_number: str) -> str | None:
    async with transaction(turn.app) as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.citizen_id == id_number)
                                      .order_by(Ticket.created_at.desc()).limit(1))
        return None if ticket is None else _status_text(turn, ticket)


async def _look_up(turn: Turn, number: str) -> str:
    person = await turn.person()
    async with transaction(turn.app) as session:
        if person is not None:
            try:
                ticket = await tickets.get_ticket(session, number, tickets.Actor("citizen", person.id_number, person.name))
            except tickets.TicketNotFound:
                ticket = None
            if ticket is not None:
                turn.conversation.leave()
                return _status_text(turn, ticket)
    turn.conversation.enter("ticket_status", "phone", number=number, tries=0)
    return "为保护您的信息，请发送登记该工单时留下的手机号码。"


async def phone_given(turn: Turn) -> str:
    number = turn.conversation.data["number"]
    phone = turn.entities.phone
    state, counters = turn.app[keys.STATE], (f"openid:{turn.openid}", f"no:{number}")
    if await LOOKUPS.spent(state, *counters):
        turn.conversation.leave()
        return "查询失败次数过多，请10分钟后再试。"
    async with transaction(turn.app) as session:
        ticket = await session.get(Ticket, number)
        if ticket is not None and ticket.contact_phone and ticket.contact_phone == phone:
            turn.conversation.leave()
            return _status_text(turn, ticket)
    await LOOKUPS.fail(state, *counters)
    turn.conversation.data["tries"] += 1
    if turn.conversation.data["tries"] >= 3:
        turn.conversation.leave()
        return "工单编号或手机号码不正确，请核对后重新查询。"
    return "工单编号或手机号码不正确，请重新发送手机号码。"


def _status_text(turn: Turn, ticket: Ticket) -> str:
    ctx = context(turn.app)
    lines = [f"工单 {ticket.number}（{ticket.type}）", f"当前状态：{rules.STATES[ticket.state]}"]
    if ticket.pending:
        left = rules.remaining_working_days(ctx.calendar, ctx.today, ticket.due_date)
        due = rules.plain_date(ticket.due_date, ctx.today)
        lines.append(f"答复期限：{due}" + (f"（还有{left}个工作日）" if left > 0 else "（今天到期）" if left == 0 else ""))
    if ticket.reply:
        lines.append(f"答复：{ticket.reply}")
        if ticket.state in rules.ANSWERED:
            lines.append("对答复满意吗？发送“评价”即可打分。")
    return "\n".join(lines)


STEPS = {"number": number_given, "phone": phone_given}
