"""转人工: chats the bot hands to a person, and the agents' answers.

WeChat lets an official account write to a user by customer-service message (客服消息) only
within 48 hours of the user's last message. An answer inside that window goes to the outbox
(channel `wechat_custom`); outside it, it is kept and marked undeliverable at once, so the
agent knows to call instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.outbox import enqueue, wechat_text
from hotline.models import Handoff, HandoffReply

WINDOW = timedelta(hours=48)
STATES = ("waiting", "answered", "closed")
State = Literal[STATES]
OPEN = STATES[:2]  # in the agents' queue
MAX_TRANSCRIPT = 200  # lines kept per handoff


class HandoffNotFound(NotFound):
    code = "handoff_not_found"
    message = "未找到该转人工会话"


def _line(at: datetime, who: str, text: str) -> dict:
    return {"at": at.isoformat(), "from": who, "text": text}


async def open_handoff(session: AsyncSession, openid: str, transcript: list[dict], now: datetime) -> Handoff:
    """Put a chat in the agents' queue (or add to the one already open for this user)."""
    handoff = await open_for(session, openid)
    if handoff is None:
        handoff = Handoff(openid=openid, transcript=[], state="waiting", last_user_message_at=now, created_at=now,
                          updated_at=now)
        session.add(handoff)
    handoff.transcript = (handoff.transcript + transcript)[-MAX_TRANSCRIPT:]
    handoff.state, handoff.last_user_message_at, handoff.updated_at = "waiting", now, now
    await session.flush()
    return handoff


async def open_for(session: AsyncSession, openid: str) -> Handoff | None:
    """The user's open handoff, locked, if there is one."""
    return await session.scalar(select(Handoff).where(Handoff.openid == openid, Handoff.state.in_(OPEN))
                                .order_by(Handoff.id.desc()).limit(1).with_for_update())


async def user_wrote(session: AsyncSession, openid: str, text: str, now: datetime) -> Handoff | None:
    """A message from a user with an open handoff goes to its transcript (and reopens the window)."""
    handoff = await open_for(session, openid)
    if handoff is not None:
        handoff.transcript = (handoff.transcript + [_line(now, "user", text)])[-MAX_TRANSCRIPT:]
        handoff.state, handoff.last_user_message_at, handoff.updated_at = "waiting", now, now
    return handoff


async def waiting(session: AsyncSession, limit: int = 50) -> list[Handoff]:
    """Open handoffs, those waiting longest first."""
    return list(await session.scalars(select(Handoff).where(Handoff.state.in_(OPEN))
                                      .order_by(Handoff.state.desc(), Handoff.updated_at).limit(limit)))


async def get_handoff(session: AsyncSession, handoff_id: int, *, for_update: bool = False) -> Handoff:
    handoff = await session.get(Handoff, handoff_id, with_for_update=for_update)
    if handoff is None:
        raise HandoffNotFound()
    return handoff


async def replies_of(session: AsyncSession, handoff_ids: list[int]) -> dict[int, list[HandoffReply]]:
    """Each handoff's agent replies in order, in one query."""
    found: dict[int, list[HandoffReply]] = {handoff_id: [] for handoff_id in handoff_ids}
    for reply in await session.scalars(select(HandoffReply).where(HandoffReply.handoff_id.in_(handoff_ids))
                                       .order_by(HandoffReply.id)):
        found[reply.handoff_id].append(reply)
    return found


def window_open(handoff: Handoff, now: datetime) -> bool:
    return now < handoff.last_user_message_at + WINDOW


async def answer(session: AsyncSession, handoff: Handoff, author: str, text: str, now: datetime) -> HandoffReply:
    """An agent's answer: queued for WeChat while the 48-hour window is open, else undeliverable."""
    text = text.strip()
    if not text:
        raise InvalidInput("请填写回复内容", code="reply_required")
    if handoff.state not in OPEN:
        raise Conflict("该会话已结束", code="handoff_closed")
    reply = HandoffReply(handoff_id=handoff.id, author=author, text=text, at=now,
                         delivery="queued" if window_open(handoff, now) else "undeliverable")
    session.add(reply)
    await session.flush()
    if reply.delivery == "queued":
        # The handoff's opening instant too: the embedded SQLite reuses the ids of deleted rows.
        reply.outbox_key = f"handoff:{handoff.id}:{handoff.created_at:%Y%m%d%H%M%S%f}:{reply.id}"
        await enqueue(session, [wechat_text(key=reply.outbox_key, openid=handoff.openid, kind="handoff_reply",
                                            text=text)], now)
    handoff.state, handoff.taken_by, handoff.updated_at = "answered", author, now
    return reply


async def close(session: AsyncSession, handoff: Handoff, now: datetime) -> None:
    if handoff.state not in OPEN:
        raise Conflict("该会话已结束", code="handoff_closed")
    handoff.state, handoff.updated_at = "closed", now
