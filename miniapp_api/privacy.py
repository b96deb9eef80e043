"""The caller's rights over their own data (个人信息保护法 第四十四至四十七条): log out, take a copy of
everything the service holds about them, and undo the real-name binding.

The copy is the one place a person's own ID number and phone are shown whole, since it is their
explicit request for them. Unbinding leaves the person's records where they are (applications,
licences and tickets are the government's records, kept by law); it ends what this WeChat
account may see of them, and messages still waiting to go to it about that person.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r401, r404
from pydantic import BaseModel, Field

from core import keys, outbox
from core.api import ErrorBody, api
from core.auth import current_session, end_session
from core.db import transaction
from core.identity import mask_id_number
from core.web import json_response
from hotline import tickets, views
from hotline.tickets import Actor
from miniapp_api.applications import ApplicationOut, applications_out
from miniapp_api.enterprises import AccessOut, access_out
from miniapp_api.me import DocumentOut, MembershipOut, document_out
from miniapp_api.tickets import citizen_views
from personal_space import access_log, documents, people

log = logging.getLogger("miniapp.privacy")

UNBOUND_REASON = "已解除实名绑定，不再发送到该微信账号"


class LoggedOut(BaseModel):
    logged_out: bool


@api
async def logout(request: web.Request) -> r200[LoggedOut] | r401[ErrorBody]:
    """End this session: the token stops working at once."""
    await end_session(request)
    return json_response({"logged_out": True})


class Unbound(BaseModel):
    bound: bool = Field(description="恒为 false")
    withheld_messages: int = Field(description="尚未发出、因解绑而不再发送到该微信账号的消息数")


@api
async def unbind(request: web.Request) -> r200[Unbound] | r401[ErrorBody] | r404[ErrorBody]:
    """解除实名绑定: this WeChat account no longer sees the person's documents, applications,
    tickets or enterprises, and reminders about them no longer come to it. The records stay; a
    new real-name verification binds them again. The chat bot served by another process may take
    up to a minute to notice."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        id_number = await people.unbind(db, session.openid)
        withheld = await outbox.withhold(db, id_number, session.openid, UNBOUND_REASON)
    if (bot_bindings := app.get(keys.BOT_BINDINGS)) is not None:  # this process's bot sees it at once
        bot_bindings.forget(session.openid)
    log.info("binding removed", extra={"id_number": mask_id_number(id_number), "withheld": withheld})
    return json_response({"bound": False, "withheld_messages": withheld})


class PersonOut(BaseModel):
    name: str
    id_number: str = Field(description="完整身份证号（本人导出）")
    phone: str | None = Field(description="完整手机号（本人导出）")


class AccountOut(BaseModel):
    openid: str
    bound_at: datetime | None
    this_account: bool = Field(description="是否为发起导出的微信账号")


class MessageOut(BaseModel):
    kind: str
    channel: str
    state: str
    data: dict[str, str]
    created_at: datetime
    sent_at: datetime | None


class ExportOut(BaseModel):
    exported_at: datetime
    person: PersonOut
    wechat_accounts: list[AccountOut]
    enterprises: list[MembershipOut]
    documents: list[DocumentOut] = Field(description="本人证照（企业证照见企业空间）")
    applications: list[ApplicationOut] = Field(description="本人办件")
    tickets: list[views.CitizenTicket] = Field(description="本人提交的12345诉求（最近100件）")
    messages: list[MessageOut] = Field(description="发给本人的提醒和通知（最近500条）")
    access_log: list[AccessOut] = Field(description="他人读取本人数据的记录（最近500条）")


@api
async def export(request: web.Request) -> r200[ExportOut] | r401[ErrorBody] | r404[ErrorBody]:
    """A copy of what the service holds about me (个人信息副本), in one JSON document, read in one
    transaction so that its parts agree."""
    app = request.app
    session = await current_session(request)
    now = app[keys.CLOCK].now()
    today: date = now.date()
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        accounts = await people.accounts_of(db, person.id_number)
        memberships = await people.memberships(db, person.id_number, today)
        held = await documents.documents_of(db, "person", person.id_number)
        mine = await applications_out(db, [("person", person.id_number)])
        actor = Actor("citizen", person.id_number, person.name)
        filed = await citizen_views(db, await tickets.citizen_tickets(db, person.id_number), actor, app)
        messages = await outbox.messages_for(db, person.id_number)
        reads = await access_log.reads_of(db, "person", person.id_number, limit=500)
    log.info("personal data exported", extra={"id_number": mask_id_number(person.id_number)})
    body = ExportOut(
        exported_at=now, person=PersonOut(name=person.name, id_number=person.id_number, phone=person.phone),
        wechat_accounts=[AccountOut(openid=a.openid, bound_at=a.bound_at, this_account=a.openid == session.openid)
                         for a in accounts],
        enterprises=[MembershipOut(**m.__dict__) for m in memberships],
        documents=[document_out(d, today) for d in held],
        applications=mine,
        tickets=filed,
        messages=[MessageOut(kind=m.kind, channel=m.channel, state=m.state, data=m.data, created_at=m.created_at,
                             sent_at=m.sent_at) for m in messages],
        access_log=access_out(reads))
    return json_response(body.model_dump(mode="json"), headers={
        "Content-Disposition": f'attachment; filename="personal-data-{today:%Y%m%d}.json"',
        "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_delete("/api/v1/me/binding", unbind)
    app.router.add_get("/api/v1/me/export", export, allow_head=False)
