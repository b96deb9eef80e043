"""Console users: argon2 password hashes, lockout after repeated failures, cookie sessions.

A session is an opaque random token (core.auth.TokenStore) in an HttpOnly, SameSite=Strict
cookie; only its SHA-256 names the record in the state store. The staff row is read again on
every request, so a deactivated account or a changed role counts at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.auth import SessionExpired, TokenStore
from core.db import transaction
from core.errors import AppError, InvalidInput, RateLimited
from core.limits import FailureBudget, give_back
from core.web import client_address
from hotline import catalogue
from hotline.models import Staff
from hotline.tickets import Actor

ROLES = {"agent": "话务员", "supervisor": "督办员", "department": "承办单位"}
Role = Literal[tuple(ROLES)]
COOKIE = "console_session"
SESSIONS = TokenStore("hotline:console", ttl=lambda settings: settings.console_session_ttl_seconds)
LOCKOUT = timedelta(minutes=15)
# Failed logins are counted per username, alike whether or not it is an account (so the answers
# never tell which usernames exist), keyed by its hash (what is typed there is sometimes a
# password), in windows that roll on the service clock:
# - from one address, 5 lock the username there: guessing stops, and whoever types them cannot
#   lock the account's owner out from elsewhere;
# - from all addresses together, 20 lock it everywhere: guessing from many addresses stops too
#   (at the price that those many can lock the owner out);
# - and one address may fail 30 times in 10 minutes, whatever the usernames (a password spray).
MAX_FAILURES = 5
USER_ADDRESS_FAILURES = FailureBudget("hotline:login-user-address", limit=MAX_FAILURES,
                                      window=int(LOCKOUT.total_seconds()))
USER_FAILURES = FailureBudget("hotline:login-user", limit=20, window=int(LOCKOUT.total_seconds()))
ADDRESS_FAILURES = FailureBudget("hotline:login", limit=30, window=600)

_hasher = PasswordHasher()
# argon2 spends ~0.1 s of CPU and 64 MiB on each check, on purpose. Checks run here, one at a time
# and outside any transaction: the event loop keeps serving meanwhile, and a burst of logins (a
# shift change, a password spray) queues without taking every core, 64 MiB more per login or the
# database connections.
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
_DUMMY_HASH = _hasher.hash("not a password: equalises timing for unknown users")


class LoginFailed(AppError):
    status = 401
    code = "login_failed"
    message = "用户名或密码错误"


class AccountLocked(AppError):
    status = 423
    code = "account_locked"
    message = "登录失败次数过多，账号已暂时锁定，请15分钟后再试"


class StaffOnly(AppError):
    status = 403
    code = "forbidden_for_role"
    message = "您的角色不能使用该功能"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def create_staff(session: AsyncSession, username: str, name: str, role: str, department: str | None,
                       password: str, now: datetime, *, hashed: str | None = None) -> Staff:
    """A console account; `hashed` (of the same password) saves hashing it again for many accounts."""
    if role not in ROLES:
        raise InvalidInput("角色应为 agent、supervisor 或 department", code="invalid_role")
    if (role == "department") != (department is not None):
        raise InvalidInput("承办单位账号须指定单位，其他角色不能指定", code="invalid_department")
    if department is not None:
        catalogue.check_department(department)
    if len(password) < 10:
        raise InvalidInput("密码至少10位", code="weak_password")
    staff = Staff(username=username, name=name, role=role, department=department,
                  password_hash=hashed or hash_password(password), active=True, created_at=now)
    session.add(staff)
    return staff


def _verify_now(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def _matching(app: web.Application, username: str, password: str) -> Staff | None:
    """The active account `password` opens, or None. An unknown user costs the same time
    (checked against a dummy hash): no probing for usernames. No transaction is held while
    the hash is checked."""
    async with transaction(app) as session:
        staff = await session.get(Staff, username)
    stored = staff.password_hash if staff is not None and staff.active else _DUMMY_HASH
    matches = await asyncio.get_running_loop().run_in_executor(_HASHING, _verify_now, stored, password)
    return staff if matches and stored is not _DUMMY_HASH else None


async def _rehash_if_due(app: web.Application, staff: Staff, password: str) -> None:
    """Store the password under the current hash parameters when they changed since it was set;
    not when the password itself changed meanwhile."""
    if not _hasher.check_needs_rehash(staff.password_hash):
        return
    rehashed = await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)
    async with transaction(app) as session:
        await session.execute(update(Staff).where(Staff.username == staff.username,
                                                  Staff.password_hash == staff.password_hash)
                              .values(password_hash=rehashed))


async def login(request: web.Request, username: str, password: str) -> tuple[Staff, str]:
    """Check the password within the failure budgets (see USER_ADDRESS_FAILURES); a new session
    token. The attempt is taken from each budget before the password is checked, so logins sent
    at the same moment cannot all pass; a locked username is refused without a check, even with
    the right password, and a refusal spends nothing."""
    app = request.app
    state, now = app[keys.STATE], app[keys.CLOCK].now()
    address, user = f"ip:{client_address(request)}", hashlib.sha256(username.encode()).hexdigest()
    from_address = await ADDRESS_FAILURES.attempt(state, now, address)
    if from_address is None:
        raise RateLimited("登录失败次数过多，请稍后再试", code="login_rate_limited")
    here = await USER_ADDRESS_FAILURES.attempt(state, now, f"{user}:{address}")
    anywhere = None if here is None else await USER_FAILURES.attempt(state, now, user)
    if anywhere is None:
        await give_back(state, from_address, here)
        raise AccountLocked()
    staff = await _matching(app, username, password)
    if staff is None:  # the attempts stay counted
        raise AccountLocked() if here.last or anywhere.last else LoginFailed()
    await give_back(state, from_address, here, anywhere)
    await _rehash_if_due(app, staff, password)
    token, _ = await SESSIONS.start(app, {"username": staff.username})
    return staff, token


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/console",
                        secure=secure, max_age=SESSIONS.ttl(request.app[keys.SETTINGS]))


async def logout(request: web.Request, response: web.StreamResponse) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await SESSIONS.end(request.app, token)
    response.del_cookie(COOKIE, path="/console")


async def current_staff(request: web.Request, session: AsyncSession) -> tuple[Staff, Actor]:
    """The logged-in console user (re-read from the database), or 401."""
    record = await SESSIONS.record(request.app, request.cookies.get(COOKIE))
    staff = await session.get(Staff, record["username"])
    if staff is None or not staff.active:
        raise SessionExpired()
    return staff, Actor(staff.role, staff.username, staff.name, staff.department)


def require_role(staff: Staff, *roles: str) -> None:
    if staff.role not in roles:
        raise StaffOnly()
