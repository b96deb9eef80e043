"""Demo console accounts and a few tickets for the embedded mode (DEMO_DATA), loaded idempotently.

Every demo account has the password DEMO_PASSWORD (printed in the README); never load demo data
in production.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from core import keys
from core.db import transaction
from hotline import catalogue, staff, tickets
from hotline.models import Staff, Ticket
from hotline.service import context
from hotline.tickets import Actor, NewTicket
from personal_space.demo import CITIZEN

log = logging.getLogger("hotline")
DEMO_PASSWORD = "demo-12345-console"
ACCOUNTS = [("agent01", "王芳", "agent", None), ("supervisor01", "李强", "supervisor", None)]
TICKETS = [
    ("demo:1", NewTicket(type="投诉", content="小区门口道路井盖缺失多日，夜间行人容易踩空，请尽快修复。", channel="miniapp",
                         citizen_id=CITIZEN["id_number"], contact_name=CITIZEN["name"],
                         contact_phone=CITIZEN["phone"], location="滨江路88号小区南门", category="城乡建设",
                         subcategory="城市建设和市政管理"), "cgj"),
    ("demo:2", NewTicket(type="咨询", content="灵活就业人员怎样办理养老保险参保登记？需要带哪些材料？", channel="phone",
                         contact_name="刘先生", contact_phone="13911112222", category="劳动和社会保障"), None),
    ("demo:3", NewTicket(type="建议", content="建议在市民中心增设夜间自助办理区，方便上班族下班后办事。", channel="phone",
                         contact_name="陈女士", contact_phone="13733334444", anonymous=True), None),
]


async def load_demo_data(app: web.Application) -> None:
    ctx = context(app)
    agent = Actor("agent", "agent01", "王芳")
    async with transaction(app) as session:
        existing = set(await session.scalars(select(Staff.username)))
        accounts = ACCOUNTS + [(f"dept-{code}", f"{name}承办人", "department", code)
                               for code, name in catalogue.departments().items()]
        missing = [a for a in accounts if a[0] not in existing]
        hashed = staff.hash_password(DEMO_PASSWORD) if missing else None  # argon2 is slow on purpose: once
        for username, name, role, department in missing:
            await staff.create_staff(session, username, name, role, department, DEMO_PASSWORD, ctx.now, hashed=hashed)
        for source_key, new, department in TICKETS:
            if await session.scalar(select(Ticket.number).where(Ticket.source_key == source_key)) is None:
                new.source_key = source_key
                ticket = await tickets.register(session, new, agent, ctx)
                if department:
                    await tickets.perform(session, ticket, agent, "dispatch", {"department": department}, ctx)


async def demo_data_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: demo staff accounts and tickets when DEMO_DATA is on."""
    if app[keys.SETTINGS].demo_data:
        await load_demo_data(app)
        log.info("demo console accounts loaded", extra={"agent": "agent01", "supervisor": "supervisor01"})
    yield
