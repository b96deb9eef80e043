"""The notifications outbox (PRODUCT.md §5 "Notifications").

Every outgoing message is first a row with a unique key, written in the transaction of the
change that causes it, so nothing is announced that did not happen and nothing is planned twice.
Workers deliver the rows:

1. claim a batch of due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL: any number of workers
   share the work) by putting a lease on them; the state stays `created`;
2. for each message, commit `sending` just before calling the sender, then the outcome:
   `delivered`, `temporary-failure` (retried with backoff) or `permanent-failure`;
3. a row whose lease ran out while still `created` was never tried: it is claimed again. One
   left `sending` was cut off mid-call; WeChat has no way to ask whether it arrived, so it
   becomes `technical-failure` for an operator to look at, never a second message. So does a
   message WeChat did not answer in time once it was sent (it may have arrived).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp import web
from sqlalchemy import JSON, Integer, String, Text, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core import keys
from core.db import AwareDateTime, Base, insert_for, transaction
from core.identity import mask_personal_data
from core.tasks import worker
from core.wechat import THREADS, WeChatError

log = logging.getLogger("outbox")

CREATED, SENDING, DELIVERED = "created", "sending", "delivered"
TEMPORARY, PERMANENT, TECHNICAL = "temporary-failure", "permanent-failure", "technical-failure"
LEASE = timedelta(minutes=2)
STOP_GRACE = 10.0  # seconds a stopping worker may take to finish the group it is sending (a WeChat call: ≤ 4 s)
BATCH = 200
# Messages in flight per worker: as many as core.wechat has threads, so that a message marked
# `sending` is really on the wire and not waiting for a thread (a cut-off would lose it).
CONCURRENCY = THREADS
# Temporary failures are retried (backoff doubling from 30 s to an hour) for this long from the
# first try: an outage of WeChat, or a day's API quota spent, is waited out. Past it the message
# ends as permanent-failure, its last error saying it was given up (purged like any other).
RETRY_FOR = timedelta(hours=24)


def _backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th try failed."""
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # what makes two messages the same message
    channel: Mapped[str] = mapped_column(String(32))  # wechat_subscribe | wechat_custom | console
    address: Mapped[str] = mapped_column(String(64))  # openid for WeChat
    recipient: Mapped[str] = mapped_column(String(64), index=True)  # who, in the service's terms (身份证号)
    kind: Mapped[str] = mapped_column(String(32))  # licence_expiry, application_state, …
    data: Mapped[dict] = mapped_column(JSON)  # the template's fields, as text
    page: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32), index=True)
    due_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)
    next_attempt_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)
    leased_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)  # retention goes by it
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool, uncertain: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.uncertain = uncertain  # sent, unanswered: it may have arrived

    @classmethod
    def of(cls, exc: WeChatError) -> SendError:
        return cls(f"{exc.code} {exc.message}", permanent=exc.permanent, uncertain=exc.uncertain)


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver or raise SendError."""


@dataclass(frozen=True)
class Draft:
    key: str
    channel: str
    address: str
    recipient: str
    kind: str
    data: dict[str, str]
    page: str | None = None


def wechat_text(*, key: str, openid: str, kind: str, text: str) -> Draft:
    """A customer-service text message (客服消息) to a WeChat user, as WeChatCustomSender sends it."""
    return Draft(key=key, channel="wechat_custom", address=openid, recipient=f"openid:{openid}", kind=kind,
                 data={"text": text})


async def enqueue(session: AsyncSession, drafts: list[Draft], now: datetime) -> int:
    """Add messages, due now, in the caller's transaction; a key already in the outbox is
    skipped. Returns how many were new."""
    if not drafts:
        return 0
    rows = [dict(key=d.key, channel=d.channel, address=d.address, recipient=d.recipient, kind=d.kind, data=d.data,
                 page=d.page, state=CREATED, due_at=now, next_attempt_at=now, attempts=0, created_at=now)
            for d in drafts]
    result = await session.execute(insert_for(session, OutboxMessage).values(rows).on_conflict_do_nothing())
    return result.rowcount


class ConsoleSender:
    """The embedded default: the message goes to the log (personal data masked)."""

    async def send(self, message: OutboxMessage) -> None:
        text = "；".join(f"{k}：{v}" for k, v in message.data.items())
        log.info("notification", extra={"kind": message.kind, "to": mask_personal_data(message.recipient),
                                        "text": mask_personal_data(text)})


class WeChatSubscribeSender:
    """Mini-program subscribe messages through core.wechat (template ids from WECHAT_TEMPLATES)."""

    def __init__(self, app: web.Application):
        self.app = app

    async def send(self, message: OutboxMessage) -> None:
        template = self.app[keys.SETTINGS].wechat_templates.get(message.kind)
        if template is None:
            raise SendError(f"未配置订阅消息模板：{message.kind}", permanent=True)
        try:
            await self.app[keys.WECHAT].send_subscribe_message(message.address, template, message.data, message.page)
        except WeChatError as exc:
            raise SendError.of(exc) from None


class WeChatCustomSender:
    """Official-account customer-service text messages (客服消息): answers to a user who wrote
    within the last 48 hours. `data["text"]` is the message."""

    def __init__(self, app: web.Application):
        self.app = app

    async def send(self, message: OutboxMessage) -> None:
        try:
            await self.app[keys.WECHAT].send_text(message.address, message.data["text"])
        except WeChatError as exc:
            raise SendError.of(exc) from None


async def messages_for(session: AsyncSession, recipient: str, limit: int = 500) -> list[OutboxMessage]:
    """What was sent, or is to be sent, to `recipient`, newest first."""
    return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                                      .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                                      .limit(limit)))


async def withhold(session: AsyncSession, recipient: str, address: str, reason: str) -> int:
    """Messages for `recipient` still waiting to go to `address` (not yet on the wire) will not
    be sent: they end as permanent failures with `reason`. How many."""
    result = await session.execute(update(OutboxMessage).where(
        OutboxMessage.recipient == recipient, OutboxMessage.address == address,
        OutboxMessage.state.in_((CREATED, TEMPORARY))).values(state=PERMANENT, last_error=reason))
    return result.rowcount


def senders(app: web.Application) -> dict[str, Sender]:
    return {"console": ConsoleSender(), "wechat_subscribe": WeChatSubscribeSender(app),
            "wechat_custom": WeChatCustomSender(app)}


async def _recover(app: web.Application, now: datetime) -> None:
    """Rows cut off mid-send become technical-failure: their outcome is unknown."""
    async with transaction(app) as session:
        await session.execute(update(OutboxMessage)
                              .where(OutboxMessage.state == SENDING, OutboxMessage.leased_until < now)
                              .values(state=TECHNICAL, leased_until=None,
                                      last_error="发送中断，结果未知（不自动重发）"))


async def _claim(app: web.Application, now: datetime, limit: int) -> list[OutboxMessage]:
    """Due rows, leased to this worker: all with the one `leased_until`, which marks them as ours."""
    async with transaction(app) as session:
        query = (select(OutboxMessage)
                 .where(OutboxMessage.state.in_([CREATED, TEMPORARY]), OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now))
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = list(await session.scalars(query))
        for message in claimed:
            message.leased_until = now + LEASE
        return claimed


async def _send(message: OutboxMessage, attempts: int, sender: Sender | None, now: datetime) -> dict:
    """Send one message (its `attempts`-th try); the row's new values."""
    outcome: dict = {"id": message.id, "leased_until": None}
    try:
        if sender is None:
            raise SendError(f"未知的发送渠道 {message.channel}", permanent=True)
        await sender.send(message)
        outcome.update(state=DELIVERED, sent_at=now, last_error=None)
    except SendError as exc:
        waited = sum((_backoff(n) for n in range(1, attempts + 1)), timedelta())  # since the first try, and the next wait
        if exc.uncertain:
            outcome.update(state=TECHNICAL, last_error=f"{exc}；消息可能已送达（不自动重发）")
        elif exc.permanent:
            outcome.update(state=PERMANENT, last_error=str(exc))
        elif waited > RETRY_FOR:
            outcome.update(state=PERMANENT, last_error=f"{exc}；24小时内{attempts}次尝试均未成功，不再重试")
        else:
            outcome.update(state=TEMPORARY, last_error=str(exc), next_attempt_at=now + _backoff(attempts))
    except Exception as exc:  # noqa: BLE001 - a sender's own fault: this message's outcome is unknown, the others' are not
        log.exception("sender failed", extra={"outbox_id": message.id, "channel": message.channel})
        outcome.update(state=TECHNICAL, last_error=f"发送程序出错（{type(exc).__name__}），结果未知（不自动重发）")
    return outcome


async def _deliver(app: web.Application, group: list[OutboxMessage], channels: dict[str, Sender]) -> None:
    """Send a group of at most CONCURRENCY messages together: one transaction marks them all
    `sending` right before the calls (from then on a crash means "unknown", never "again"),
    one records the outcomes."""
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        # Only rows this worker still holds: its lease may have run out and another worker taken
        # them meanwhile (their lease is then not ours). The lease is renewed for the send.
        marked = dict((await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([m.id for m in group]), OutboxMessage.state.in_([CREATED, TEMPORARY]),
                   OutboxMessage.leased_until == group[0].leased_until)
            .values(state=SENDING, attempts=OutboxMessage.attempts + 1, leased_until=now + LEASE)
            .returning(OutboxMessage.id, OutboxMessage.attempts))).all())
    outcomes = await asyncio.gather(*(_send(m, marked[m.id], channels.get(m.channel), now)
                                      for m in group if m.id in marked))
    if outcomes:
        async with transaction(app) as session:
            await session.execute(update(OutboxMessage), list(outcomes))


async def run_once(app: web.Application, limit: int = BATCH, stopping: asyncio.Event | None = None) -> int:
    """Deliver one batch of due messages; returns how many were claimed. Once `stopping` is set
    the group being sent is finished and the rest of the batch is handed back at once (no
    waiting out the lease), so a planned stop leaves nothing unknown and delays nothing."""
    now = app[keys.CLOCK].now()
    await _recover(app, now)
    claimed = await _claim(app, now, limit)
    channels = senders(app)
    for start in range(0, len(claimed), CONCURRENCY):
        if stopping is not None and stopping.is_set():
            await _release(app, claimed[start:])
            break
        await _deliver(app, claimed[start:start + CONCURRENCY], channels)
    return len(claimed)


async def _release(app: web.Application, messages: list[OutboxMessage]) -> None:
    async with transaction(app) as session:
        await session.execute(update(OutboxMessage)
                              .where(OutboxMessage.id.in_([m.id for m in messages]),
                                     OutboxMessage.state.in_([CREATED, TEMPORARY]),
                                     OutboxMessage.leased_until == messages[0].leased_until)  # still ours
                              .values(leased_until=None))


async def _batch(app: web.Application, stopping: asyncio.Event) -> bool:
    return await run_once(app, stopping=stopping) == BATCH  # a full batch: there may be more right away


# cleanup_ctx of the processes that run the workers (server.py); a stop finishes the group on the wire.
outbox_worker_context = worker("outbox batch", _batch, lambda app: app[keys.SETTINGS].outbox_poll_seconds, log,
                               grace=STOP_GRACE)
