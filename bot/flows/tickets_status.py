"""工单进度: a ticket by number; a bound user sees their own, anyone else names the phone number
the ticket was filed with."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows import answer_with_secret
from bot.texts import MINIAPP, fit
from bot.turn import Turn
from core.db import transaction
from core.limits import FailureBudget
from hotline import rules, tickets
from hotline.models import Ticket
from hotline.service import context
from personal_space import access_log

# Wrong phone numbers per WeChat user and per ticket in 10 minutes. Ticket numbers follow a daily
# sequence: without a budget, someone who knows a phone number could walk the numbers and read
# every ticket filed with it (a 举报 included), three tries per conversation, forever.
LOOKUPS = FailureBudget("bot:ticket-lookup", limit=10, window=600)
REPLY_SHOWN = 500  # characters of the department's answer (up to 4,000) a chat reply shows


async def start(turn: Turn, number: str | None) -> str:
    if number is None:
        async with transaction(turn.app) as session:
            person = await turn.person(session)
            latest = await tickets.citizen_tickets(session, person.id_number, limit=1) if person else []
        if latest:
            turn.conversation.leave()
            return _status_text(turn, latest[0], ratable=True)
        turn.conversation.enter("ticket_status", "number")
        return "请发送工单编号（GD开头，如GD20261118000042），回复“取消”退出。"
    return await _look_up(turn, number)


async def number_given(turn: Turn) -> str:
    number = turn.entities.ticket_no
    if number is None:
        return "没有识别到工单编号，请发送以GD开头的16位编号，或回复“取消”退出。"
    return await _look_up(turn, number)


async def _look_up(turn: Turn, number: str) -> str:
    ticket = None
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        if person is not None:
            try:
                ticket = await tickets.get_ticket(session, number, tickets.Actor("citizen", person.id_number, person.name))
            except tickets.TicketNotFound:
                pass
    if ticket is not None:
        turn.conversation.leave()
        return _status_text(turn, ticket, ratable=True)
    turn.conversation.enter("ticket_status", "phone", number=number, tries=0)
    return "为保护您的信息，请发送登记该工单时留下的手机号码。"


async def phone_given(turn: Turn) -> str:
    async def answer(session: AsyncSession, number: str, phone: str | None) -> str | None:
        ticket = await tickets.ticket_filed_with(session, number, phone)
        if ticket is None:
            return None
        if ticket.citizen_id is not None:  # a bound citizen's ticket: the read goes in their access log
            reader = await turn.person(session)
            await access_log.record(session, "person", ticket.citizen_id, access_log.CONTACT_PHONE,
                                    reader.id_number if reader else "", reader.name if reader else "未实名认证的用户",
                                    f"12345工单 {ticket.number}（微信公众号，凭登记手机号）", turn.now)
        # Rating needs the real-name binding: one who proved the ticket by its phone is not offered it.
        return _status_text(turn, ticket, ratable=False)

    return await answer_with_secret(turn, LOOKUPS, turn.entities.phone, answer,
                                    wrong="工单编号或手机号码不正确，请重新发送手机号码。",
                                    gave_up="工单编号或手机号码不正确，请核对后重新查询。",
                                    ask="请发送提交工单时登记的11位手机号码；回复“取消”退出。")


def _status_text(turn: Turn, ticket: Ticket, *, ratable: bool) -> str:
    ctx = context(turn.app)
    lines = [f"工单 {ticket.number}（{ticket.type}）", f"当前状态：{rules.STATES[ticket.state]}"]
    if ticket.pending:
        lines.append(f"答复期限：{rules.due_text(ctx.calendar, ctx.today, ticket.due_date)}")
    if ticket.reply:
        reply = ticket.reply if len(ticket.reply) <= REPLY_SHOWN else f"{ticket.reply[:REPLY_SHOWN]}……（{MINIAPP}）"
        lines.append(f"答复：{reply}")
        if ratable and ticket.state in rules.ANSWERED:
            lines.append("对答复满意吗？发送“评价”即可打分。")
    return fit("\n".join(lines))


STEPS = {"number": number_given, "phone": phone_given}
SECRETS = {"phone": "登记手机号"}  # step → what its answer is: never kept in the transcript
