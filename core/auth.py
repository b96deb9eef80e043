"""Mini-program sessions: an opaque bearer token whose record lives in the state store.

The token is random; only its SHA-256 names the record, so the store never holds a usable
token. The record holds the WeChat openid; who that is (the real-name binding) is looked up
per request, so a binding made after login counts at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import orjson
from aiohttp import web

from core import keys
from core.errors import Unauthorized

SESSION_KEY = "auth:session:{digest}"


class NotLoggedIn(Unauthorized):
    code = "unauthenticated"
    message = "请先登录"


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "登录已过期，请重新登录"


@dataclass(frozen=True)
class Session:
    openid: str
    unionid: str | None = None


def _key(token: str) -> str:
    return SESSION_KEY.format(digest=hashlib.sha256(token.encode()).hexdigest())


async def start_session(app: web.Application, session: Session) -> tuple[str, int]:
    """A new token for `session` and its lifetime in seconds."""
    token = secrets.token_urlsafe(32)
    ttl = app[keys.SETTINGS].session_ttl_seconds
    await app[keys.STATE].set(_key(token), orjson.dumps(session.__dict__).decode(), ttl=ttl)
    return token, ttl


async def end_session(request: web.Request) -> None:
    token = _bearer(request)
    if token:
        await request.app[keys.STATE].delete(_key(token))


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_session(request: web.Request) -> Session:
    """The caller's session, or Unauthorized (no token, or one that expired or never was)."""
    token = _bearer(request)
    if token is None:
        raise NotLoggedIn()
    record = await request.app[keys.STATE].get(_key(token))
    if record is None:
        raise SessionExpired()
    return Session(**orjson.loads(record))
