"""转人工: the chat goes to the agents' queue with its transcript, and WeChat is told to pass
the user's messages to customer service (TransferCustomerService)."""

from __future__ import annotations

from bot.messages import Reply
from bot.turn import Turn
from core.db import transaction
from core.outbox import enqueue, wechat_text
from hotline import handoffs

HANDED_OVER = "正在为您转接人工客服，请稍候，客服会尽快回复您（工作时间8:30—17:30）。"


async def start(turn: Turn) -> Reply:
    turn.conversation.said("bot", HANDED_OVER, turn.now.isoformat())
    async with transaction(turn.app) as session:
        handoff = await handoffs.open_handoff(session, turn.openid, turn.conversation.transcript, turn.now)
        # A transfer reply carries no text: the user hears of it by customer-service message.
        await enqueue(session, [wechat_text(key=f"handoff:{handoff.id}:{handoff.created_at:%Y%m%d%H%M%S%f}:opened:{turn.incoming.dedupe_key}",
                                            openid=turn.openid, kind="bot_followup", text=HANDED_OVER)], turn.now)
    turn.conversation.leave()
    turn.conversation.handoff = True
    return Reply(text=HANDED_OVER, transfer=True)


async def relay(turn: Turn) -> Reply | None:
    """While a handoff is open, the user's messages go to it (and to customer service). Only a
    conversation that opened one looks: an agent's closing is noticed at the next message."""
    if not turn.conversation.handoff:
        return None
    async with transaction(turn.app) as session:
        handoff = await handoffs.user_wrote(session, turn.openid, turn.text or f"[{turn.incoming.msg_type}]", turn.now)
    turn.conversation.handoff = handoff is not None
    return None if handoff is None else Reply(transfer=True)


async def still_open(turn: Turn) -> bool:
    """Whether the handoff this conversation opened is still open (agents may have closed it)."""
    if turn.conversation.handoff:
        async with transaction(turn.app) as session:
            turn.conversation.handoff = await handoffs.open_for(session, turn.openid) is not None
    return turn.conversation.handoff


async def end(turn: Turn) -> bool:
    """The user leaves an open handoff ("退出"); True when there was one."""
    if not turn.conversation.handoff:
        return False
    turn.conversation.handoff = False
    async with transaction(turn.app) as session:
        handoff = await handoffs.open_for(session, turn.openid)
        if handoff is None:
            return False
        await handoffs.close(session, handoff, turn.now)
    return True
