"""Console users: argon2 password hashes, lockout after repeated failures, cookie sessions.

A session is an opaque random token (core.auth.TokenStore) in an HttpOnly, SameSite=Strict
cookie; only its SHA-256 names the record in the state store. The staff row is read again on
every request, so a deactivated account or a changed role counts at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.auth import SessionExpired, TokenStore
from core.db import transaction
from core.errors import AppError, InvalidInput, RateLimited
from core.limits import FailureBudget
from core.web import client_address
from hotline import catalogue
from hotline.models import Staff
from hotline.tickets import Actor

ROLES = {"agent": "话务员", "supervisor": "督办员", "department": "承办单位"}
Role = Literal[tuple(ROLES)]
COOKIE = "console_session"
SESSIONS = TokenStore("hotline:console", ttl=lambda settings: settings.console_session_ttl_seconds)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
ADDRESS_FAILURES = FailureBudget("hotline:login", limit=30, window=600)  # per client address, any account
# Failures for a username that is no (active) account lock it as they would an account, so that
# 423 account_locked does not tell which usernames exist.
NO_ACCOUNT_FAILURES = FailureBudget("hotline:login-unknown", limit=MAX_FAILURES, window=int(LOCKOUT.total_seconds()))

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
    message = "连续登录失败次数过多，账号已锁定，请15分钟后再试"


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
                  password_hash=hashed or hash_password(password), failed_logins=0, active=True, created_at=now)
    session.add(staff)
    return staff


def _verify_now(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginOutcome:
    staff: Staff | None
    error: AppError | None
    no_account: bool = False  # the username is no active account


async def password_matches(app: web.Application, username: str, password: str) -> str | None:
    """The stored hash that `password` matches, or None. An unknown user costs the same time
    (checked against a dummy hash): no probing for usernames."""
    async with transaction(app) as session:
        stored = await session.scalar(select(Staff.password_hash).where(Staff.username == username))
    matches = await asyncio.get_running_loop().run_in_executor(_HASHING, _verify_now, stored or _DUMMY_HASH,
                                                                password)
    return stored if matches else None


async def check_password(session: AsyncSession, username: str, password: str, matched: str | None,
                         now: datetime) -> LoginOutcome:
    """Count a login on the locked row, `matched` being password_matches()'s answer. The caller
    commits before it raises the outcome's error, so that a failure is remembered."""
    staff = await session.get(Staff, username, with_for_update=True)
    if staff is None or not staff.active:
        return LoginOutcome(None, LoginFailed(), no_account=True)
    if staff.locked_until is not None and staff.locked_until > now:
        return LoginOutcome(None, AccountLocked())
    if matched is None or matched != staff.password_hash:  # wrong, or the password changed since the check
        staff.failed_logins += 1
        if staff.failed_logins >= MAX_FAILURES:
            staff.failed_logins, staff.locked_until = 0, now + LOCKOUT
            return LoginOutcome(None, AccountLocked())
        return LoginOutcome(None, LoginFailed())
    staff.failed_logins, staff.locked_until = 0, None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)
    return LoginOutcome(staff, None)


async def login(request: web.Request, username: str, password: str) -> tuple[Staff, str]:
    """Check the password (and the client address's failure budget); a new session token."""
    app = request.app
    state = app[keys.STATE]
    address = f"ip:{client_address(request)}"
    if await ADDRESS_FAILURES.spent(state, address):
        raise RateLimited("登录失败次数过多，请稍后再试", code="login_rate_limited")
    matched = await password_matches(app, username, password)
    async with transaction(app) as session:
        outcome = await check_password(session, username, password, matched, app[keys.CLOCK].now())
    if outcome.error is not None:
        await ADDRESS_FAILURES.fail(state, address)
        if outcome.no_account:
            # keyed by a hash: what is typed as a username is sometimes a password or a phone
            if await NO_ACCOUNT_FAILURES.fail(state, hashlib.sha256(username.encode()).hexdigest()):
                raise AccountLocked()
        raise outcome.error
    token, _ = await SESSIONS.start(app, {"username": outcome.staff.username})
    return outcome.staff, token


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
