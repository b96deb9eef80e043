"""The enterprise space (一企一档), its members (经办人授权), and access logs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r404
from pydantic import BaseModel, Field

from core import keys
from core.api import ErrorBody, api
from core.auth import current_session
from core.db import transaction
from core.identity import mask_id_number
from core.web import json_response
from miniapp_api.me import DocumentOut, document_out
from personal_space import access_log, documents, people


class MemberOut(BaseModel):
    name: str = Field(description="姓名；经办人为授权时填写的姓名")
    id_number: str = Field(description="脱敏身份证号")
    role: Literal["legal_representative", "agent"]
    valid_until: date | None


class SpaceOut(BaseModel):
    uscc: str
    name: str
    my_role: Literal["legal_representative", "agent"]
    documents: list[DocumentOut]
    members: list[MemberOut] = Field(description="仅法定代表人可见")


@api
async def space(request: web.Request, uscc: str, /) -> r200[SpaceOut] | r401[ErrorBody] | r404[ErrorBody]:
    """An enterprise's data space, for its legal representative and its agents while authorised."""
    app = request.app
    session = await current_session(request)
    today, now = app[keys.CLOCK].today(), app[keys.CLOCK].now()
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        membership = await people.require_membership(db, uscc.upper(), person.id_number, today)
        found = await documents.documents_of(db, "enterprise", membership.uscc)
        members = await people.members(db, membership.uscc, today) if membership.role == people.LEGAL_REPRESENTATIVE else []
        await access_log.record(db, "enterprise", membership.uscc, access_log.ENTERPRISE_MEMBER, person.id_number,
                                person.name, "企业空间", now)
    return json_response({"uscc": membership.uscc, "name": membership.name, "my_role": membership.role,
                          "documents": [document_out(d, today) for d in found],
                          "members": [{"name": name, "id_number": mask_id_number(m.id_number), "role": m.role,
                                       "valid_until": m.valid_until.isoformat() if m.valid_until else None}
                                      for m, name in members]})


class GrantRequest(BaseModel):
    id_number: str = Field(description="经办人身份证号")
    name: str = Field(min_length=1, max_length=64)
    valid_until: date = Field(description="授权截止日（含当日）")


@api
async def grant(request: web.Request, uscc: str, /, body: GrantRequest
                ) -> r201[MemberOut] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody]:
    """The legal representative authorises an agent (经办人) until a date; a new grant replaces an old one."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        member = await people.grant_agent(db, uscc.upper(), person.id_number, body.id_number, body.name,
                                          body.valid_until, app[keys.CLOCK].now())
    return json_response({"name": member.granted_name, "id_number": mask_id_number(member.id_number), "role": member.role,
                          "valid_until": member.valid_until.isoformat()}, status=201)


class RevokeOut(BaseModel):
    revoked: bool


@api
async def revoke(request: web.Request, uscc: str, /,
                 id_number: Annotated[str, Field(description="经办人身份证号")]
                 ) -> r200[RevokeOut] | r401[ErrorBody] | r404[ErrorBody]:
    """The legal representative ends an agent's authorisation now."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        await people.revoke_agent(db, uscc.upper(), person.id_number, id_number.strip().upper(), app[keys.CLOCK].now())
    return json_response({"revoked": True})


class AccessOut(BaseModel):
    at: datetime
    reader_type: access_log.ReaderType = Field(
        description="enterprise_member 企业成员、staff 工作人员、verifier 亮证核验、query_password 凭查询密码查询、"
                    "contact_phone 凭登记手机号查询工单")
    reader: str = Field(description="读取者（脱敏）")
    resource: str


def _reader(record) -> str:
    """A reader known by ID number (an enterprise member, a bound user with the query password) is
    shown by name and masked number; staff and clerks by what they are."""
    named = record.reader_type in (access_log.ENTERPRISE_MEMBER, access_log.QUERY_PASSWORD) and record.reader_id
    return f"{record.reader_name}（{mask_id_number(record.reader_id)}）" if named else record.reader_name


def access_out(records) -> list[dict]:
    return [{"at": r.at.isoformat(), "reader_type": r.reader_type, "resource": r.resource, "reader": _reader(r)}
            for r in records]


@api
async def my_access_log(request: web.Request) -> r200[list[AccessOut]] | r401[ErrorBody] | r404[ErrorBody]:
    """Who read my data, and when (newest first)."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        records = await access_log.reads_of(db, "person", person.id_number)
    return json_response(access_out(records))


@api
async def enterprise_access_log(request: web.Request, uscc: str, /
                                ) -> r200[list[AccessOut]] | r401[ErrorBody] | r404[ErrorBody]:
    """Who read the enterprise's data (its legal representative only)."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        await people.require_membership(db, uscc.upper(), person.id_number, app[keys.CLOCK].today(),
                                        role=people.LEGAL_REPRESENTATIVE)
        records = await access_log.reads_of(db, "enterprise", uscc.upper())
    return json_response(access_out(records))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/enterprises/{uscc}/space", space, allow_head=False)
    app.router.add_post("/api/v1/enterprises/{uscc}/members", grant)
    app.router.add_delete("/api/v1/enterprises/{uscc}/members", revoke)
    app.router.add_get("/api/v1/enterprises/{uscc}/access-log", enterprise_access_log, allow_head=False)
    app.router.add_get("/api/v1/me/access-log", my_access_log, allow_head=False)
