"""Shared pieces of the hotline tests: the service with console staff of every role, a desk that
acts as any of them over HTTP, and a bound citizen on the mini-program."""

from __future__ import annotations

import functools
from datetime import date, datetime

import pytest
from sqlalchemy import select

from core import keys
from core.clock import SHANGHAI
from core.db import transaction
from core.outbox import OutboxMessage
from hotline.models import Staff, Supervision, Ticket
from hotline.staff import hash_password
from server import create_app
from tests.personal_space_helpers import ALICE, BOB, SECRETS, citizen, signer

PASSWORD = "correct-horse-battery"
STAFF = {  # username: (role, department)
    "agent01": ("agent", None), "super01": ("supervisor", None),
    "dept-cgj": ("department", "cgj"), "dept-zjj": ("department", "zjj"), "dept-jtj": ("department", "jtj"),
}


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per run


async def add_staff(app, username: str, role: str, department: str | None) -> None:
    async with transaction(app) as session:
        session.add(Staff(username=username, name=f"{username}姓名", role=role, department=department,
                          password_hash=_password_hash(), active=True,
                          created_at=app[keys.CLOCK].now()))


class Desk:
    """Acts on the console as any staff member: one session cookie per username."""

    def __init__(self, client):
        self.client = client
        self.cookies: dict[str, str] = {}

    async def login(self, username: str, password: str = PASSWORD):
        response = await self.client.post("/console/api/login", json={"username": username, "password": password})
        if response.status == 200:
            self.cookies[username] = response.cookies["console_session"].value
        self.client.session.cookie_jar.clear()  # each call below names its user explicitly
        return response

    def _headers(self, who: str) -> dict:
        return {"Cookie": f"console_session={self.cookies[who]}"}

    async def get(self, who: str, path: str):
        return await self.client.get(f"/console/api{path}", headers=self._headers(who))

    async def post(self, who: str, path: str, body: dict | None = None):
        return await self.client.post(f"/console/api{path}", json=body or {}, headers=self._headers(who))

    async def ticket(self, who: str, number: str) -> dict:
        response = await self.get(who, f"/tickets/{number}")
        assert response.status == 200, await response.text()
        return await response.json()

    async def act(self, who: str, number: str, action: str, **body):
        return await self.post(who, f"/tickets/{number}/actions/{action}", body)

    async def ok(self, who: str, number: str, action: str, **body) -> dict:
        response = await self.act(who, number, action, **body)
        assert response.status == 200, await response.text()
        return await response.json()

    async def call(self, content: str = "小区门前路灯不亮已经一周，晚上出行不安全。", **body) -> dict:
        """An agent registers a phone call."""
        response = await self.post("agent01", "/tickets", {"type": "投诉", "content": content,
                                                           "contact_name": "赵先生", "contact_phone": "13912345678",
                                                           **body})
        assert response.status == 201, await response.text()
        return await response.json()


@pytest.fixture
async def hotline_client(aiohttp_client, make_settings, clock, fake_wechat):
    settings = make_settings(integration_clients=SECRETS, **fake_wechat.settings())
    client = await aiohttp_client(create_app(settings, clock=clock))
    for username, (role, department) in STAFF.items():
        await add_staff(client.server.app, username, role, department)
    return client


@pytest.fixture
async def desk(hotline_client) -> Desk:
    desk = Desk(hotline_client)
    for username in STAFF:
        assert (await desk.login(username)).status == 200
    return desk


@pytest.fixture
def as_citizen(hotline_client, fake_wechat, clock):
    async def make(openid: str, who: dict) -> dict:
        return await citizen(hotline_client, fake_wechat, signer(hotline_client, clock), openid, who)
    return make


@pytest.fixture
async def alice(as_citizen) -> dict:
    return await as_citizen("openid-alice", ALICE)


@pytest.fixture
async def bob(as_citizen) -> dict:
    return await as_citizen("openid-bob", BOB)


async def file_ticket(client, headers: dict, **body) -> dict:
    response = await client.post("/api/v1/tickets", json={"content": "小区楼下烧烤店油烟和噪音扰民到深夜。", **body},
                                 headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def stored(client, number: str) -> Ticket:
    async with transaction(client.server.app) as session:
        return await session.scalar(select(Ticket).where(Ticket.number == number))


def at(day: str, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    """That day at that time in Beijing."""
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=SHANGHAI)


async def call_on(desk: Desk, clock, day: str, department: str | None = "cgj", *, sign: bool = True) -> str:
    """A phone ticket accepted on `day` at 10:00, dispatched (and signed) the same day."""
    clock.set(at(day))
    number = (await desk.call())["number"]
    if department is not None:
        await desk.ok("agent01", number, "dispatch", department=department)
        if sign:
            await desk.ok(f"dept-{department}", number, "sign")
    return number


async def notices(app) -> list[tuple[str, str, set[str]]]:
    """Staff digests in the outbox, oldest first: (recipient, kind, ticket numbers)."""
    async with transaction(app) as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient.like("staff:%"))
                                     .order_by(OutboxMessage.id))
        return [(m.recipient, m.kind, set(m.data["工单编号"].removesuffix("等").split("、"))) for m in rows]


async def records(app, kind: str | None = None) -> list[tuple[str, str, date, str | None]]:
    """督办 records: (ticket, kind, day raised, department), oldest first."""
    query = select(Supervision).order_by(Supervision.id)
    if kind is not None:
        query = query.where(Supervision.kind == kind)
    async with transaction(app) as session:
        return [(r.ticket_no, r.kind, r.raised_on, r.department) for r in await session.scalars(query)]
