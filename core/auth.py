"""Login sessions: an opaque random token whose record lives in the state store.

Only the token's SHA-256 names the record, so the store never holds a usable token. One
`TokenStore` per kind of session: the mini-program's (a bearer token naming a WeChat openid,
defined here) and the console's (a cookie naming a staff account, in hotline.staff). A record
says only who logged in; what that person may do is looked up per request, so a real-name
binding made after login, or a deactivated account, counts at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from core import keys
from core.errors import Unauthorized
from core.settings import Settings


class NotLoggedIn(Unauthorized):
    code = "unauthenticated"
    message = "请先登录"


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "登录已过期，请重新登录"


@dataclass(frozen=True)
class TokenStore:
    """Sessions of one kind: a record (a JSON object) per token, for a fixed lifetime from login."""

    prefix: str  # state-store key prefix: a record is at "{prefix}:{sha256 of the token}"
    ttl: Callable[[Settings], int]  # seconds a session lasts, read from the settings

    def _key(self, token: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(token.encode()).hexdigest()}"

    async def start(self, app: web.Application, record: dict) -> tuple[str, int]:
        """A new token for `record` and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        ttl = self.ttl(app[keys.SETTINGS])
        await app[keys.STATE].set_json(self._key(token), record, ttl=ttl)
        return token, ttl

    async def record(self, app: web.Application, token: str | None) -> dict:
        """The record of `token`: NotLoggedIn without a token, SessionExpired for one that
        expired, was ended or never was."""
        if not token:
            raise NotLoggedIn()
        record = await app[keys.STATE].get_json(self._key(token))
        if record is None:
            raise SessionExpired()
        return record

    async def end(self, app: web.Application, token: str) -> None:
        await app[keys.STATE].delete(self._key(token))


@dataclass(frozen=True)
class Session:
    openid: str
    unionid: str | None = None


MINIAPP_SESSIONS = TokenStore("auth:session", ttl=lambda settings: settings.session_ttl_seconds)


async def start_session(app: web.Application, session: Session) -> tuple[str, int]:
    """A new mini-program token for `session` and its lifetime in seconds."""
    return await MINIAPP_SESSIONS.start(app, session.__dict__)


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def end_session(request: web.Request) -> None:
    """Log out: the caller's token stops working (NotLoggedIn without one; ending one that has
    already ended is not an error)."""
    token = _bearer(request)
    if token is None:
        raise NotLoggedIn()
    await MINIAPP_SESSIONS.end(request.app, token)


async def current_session(request: web.Request) -> Session:
    """The caller's session, or Unauthorized (no token, or one that expired or never was)."""
    return Session(**await MINIAPP_SESSIONS.record(request.app, _bearer(request)))
