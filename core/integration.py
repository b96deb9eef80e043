"""The signed server-to-server API (/integration/v1/…) of PRODUCT.md §5.

Each request carries X-Client-Id, X-Timestamp (Unix seconds, within 300 s of now), X-Nonce
(never reused) and X-Signature, the hex HMAC-SHA256 with the client's secret over
METHOD \\n PATH_WITH_QUERY \\n TIMESTAMP \\n NONCE \\n hex(sha256(body)). The middleware checks
all of it before any handler runs, so a refused request writes nothing. The nonce is spent only
once the signature holds: a forger cannot burn a client's nonces. With INTEGRATION_SCOPES each
client may make only the pushes listed for it (the e-licence library cannot bind identities).

Every pushed event carries an `event_id`; `record_event` inserts it in the same transaction as
the event's effect, so an event is applied once however often it is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from aiohttp import web
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core import keys
from core.db import AwareDateTime, Base, insert_for
from core.errors import AppError, Conflict, Unauthorized

PREFIX = "/integration/"
WINDOW_SECONDS = 300
NONCE_KEY = "integration:nonce:{client}:{nonce}"  # state-store key of a spent nonce
CLIENT = web.RequestKey("integration_client", str)  # the verified client of the request


class SignatureMissing(Unauthorized):
    code = "signature_missing"
    message = "缺少签名请求头（X-Client-Id、X-Timestamp、X-Nonce、X-Signature）"


class UnknownClient(Unauthorized):
    code = "unknown_client"
    message = "未登记的接入方"


class SignatureInvalid(Unauthorized):
    code = "signature_invalid"
    message = "签名校验失败"


class TimestampOutOfWindow(Unauthorized):
    code = "timestamp_out_of_window"
    message = "请求时间戳与服务器时间相差超过5分钟"


class NonceReplayed(Unauthorized):
    code = "nonce_replayed"
    message = "该请求已处理过（X-Nonce 重复），拒绝重放"


class PushNotAllowed(AppError):
    status = 403
    code = "push_not_allowed"
    message = "该接入方无权推送此类数据（见 INTEGRATION_SCOPES）"


class EventIdReused(Conflict):
    code = "event_id_reused"
    message = "该 event_id 已用于另一类推送，请为每个事件使用唯一的 event_id"


class IntegrationEvent(Base):
    """An event a back-office system pushed, applied once (by client and event id)."""

    __tablename__ = "integration_events"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(AwareDateTime())


def sign(secret: str, method: str, path_qs: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The X-Signature for a request (what clients compute; tests and the demo use it too)."""
    message = "\n".join([method.upper(), path_qs, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


async def _verify(request: web.Request) -> str:
    headers = request.headers
    client, timestamp, nonce, signature = (headers.get(h, "").strip() for h in
                                           ("X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature"))
    if not (client and timestamp and nonce and signature) or len(nonce) > 128:
        raise SignatureMissing()
    secret = request.app[keys.SETTINGS].integration_clients.get(client)
    if secret is None:
        raise UnknownClient()
    body = await request.read()
    expected = sign(secret, request.method, request.path_qs, timestamp, nonce, body)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise SignatureInvalid()
    scopes = request.app[keys.SETTINGS].integration_scopes
    if scopes is not None and request.path.removeprefix(PREFIX + "v1/") not in scopes.get(client, ()):
        raise PushNotAllowed()
    now = request.app[keys.CLOCK].now().timestamp()
    if not timestamp.isdigit() or abs(now - int(timestamp)) > WINDOW_SECONDS:
        raise TimestampOutOfWindow()
    # Kept past the window's both sides, so a nonce cannot come back while its timestamp is valid.
    if not await request.app[keys.STATE].set_if_absent(NONCE_KEY.format(client=client, nonce=nonce), "1",
                                                       ttl=2 * WINDOW_SECONDS + 60):
        raise NonceReplayed()
    return client


@web.middleware
async def integration_middleware(request: web.Request, handler):
    """Refuse an /integration/ request that is not signed by a known client, before any handler."""
    if request.path.startswith(PREFIX):
        request[CLIENT] = await _verify(request)
    return await handler(request)


async def record_event(session: AsyncSession, client: str, event_id: str, kind: str, now: datetime) -> bool:
    """Note the event in the caller's transaction; False when it was applied before."""
    statement = insert_for(session, IntegrationEvent).values(client_id=client, event_id=event_id, kind=kind,
                                                             received_at=now).on_conflict_do_nothing()
    if (await session.execute(statement)).rowcount == 1:
        return True
    earlier = await session.get(IntegrationEvent, (client, event_id))
    if earlier is not None and earlier.kind != kind:  # a duplicate is the same event again, not another kind
        raise EventIdReused(f"event_id {event_id} 已用于另一类推送（{earlier.kind}），请为每个事件使用唯一的 event_id")
    return False
