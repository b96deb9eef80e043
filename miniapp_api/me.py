"""Login and the caller's own space (一人一企一档): who I am, my documents, 亮证, my enterprises."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r404, r503
from pydantic import BaseModel, Field

from core import keys
from core.api import ErrorBody, api
from core.auth import Session, current_session, start_session
from core.db import transaction
from core.errors import AppError, NotFound, ServiceUnavailable
from core.identity import mask_id_number, mask_name, mask_phone
from core.wechat import WeChatError
from core.web import json_response
from personal_space import access_log, documents, people, reminders
from personal_space.demo import DEMO_OPENID
from personal_space.models import Document


class LoginRequest(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="wx.login 返回的 code")


class LoginOut(BaseModel):
    token: str
    expires_in: int = Field(description="秒")
    bound: bool = Field(description="是否已实名绑定")


class InvalidLoginCode(AppError):
    status = 400
    code = "invalid_login_code"
    message = "登录凭证无效或已使用，请重新登录"


class WeChatUnavailable(ServiceUnavailable):
    code = "wechat_unavailable"
    message = "微信登录服务暂时不可用，请稍后再试"


@api
async def login(request: web.Request, body: LoginRequest) -> r200[LoginOut] | r400[ErrorBody] | r503[ErrorBody]:
    """Exchange a wx.login code for a session token (Authorization: Bearer <token>)."""
    app = request.app
    try:
        wx = await app[keys.WECHAT].code_to_session(body.code)
    except WeChatError as exc:
        raise (InvalidLoginCode() if exc.permanent else WeChatUnavailable()) from None
    return await _logged_in(request, Session(openid=wx.openid, unionid=wx.unionid))


@api
async def demo_login(request: web.Request) -> r200[LoginOut] | r404[ErrorBody]:
    """Log in as the demo citizen: only when DEMO_LOGIN is set (never in production)."""
    if not request.app[keys.SETTINGS].demo_login:
        raise NotFound()
    return await _logged_in(request, Session(openid=DEMO_OPENID))


async def _logged_in(request: web.Request, session: Session) -> web.Response:
    app = request.app
    async with transaction(app) as db:
        account = await people.touch_account(db, session.openid, session.unionid, app[keys.CLOCK].now())
        account.miniapp_login_at = app[keys.CLOCK].now()
        bound = account.id_number is not None
    token, ttl = await start_session(app, session)
    return json_response({"token": token, "expires_in": ttl, "bound": bound})


class MembershipOut(BaseModel):
    uscc: str
    name: str
    role: Literal["legal_representative", "agent"]
    valid_until: date | None = Field(description="经办人授权截止日（含）")


class MeOut(BaseModel):
    bound: bool
    name: str | None
    id_number: str | None = Field(description="脱敏身份证号")
    phone: str | None = Field(description="脱敏手机号")
    enterprises: list[MembershipOut]


@api
async def me(request: web.Request) -> r200[MeOut] | r401[ErrorBody]:
    """The caller: binding, masked identity and the enterprises they may act for."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person = await people.bound_person(db, session.openid)
        if person is None:
            return json_response({"bound": False, "name": None, "id_number": None, "phone": None, "enterprises": []})
        memberships = await people.memberships(db, person.id_number, app[keys.CLOCK].today())
    return json_response({"bound": True, "name": person.name, "id_number": mask_id_number(person.id_number),
                          "phone": mask_phone(person.phone) if person.phone else None,
                          "enterprises": [m.__dict__ for m in memberships]})


class DocumentOut(BaseModel):
    id: str
    kind: str
    number: str
    holder_type: Literal["person", "enterprise"]
    holder_name: str
    issuer: str
    issued_on: date | None
    valid_until: date | None = Field(description="有效期至（含当日）；空为长期有效")
    status: str = Field(description="valid / expired / cancelled / revoked / suspended")
    status_label: str = Field(description="有效、过期、注销、吊销、中止")
    valid_now: bool
    verified: bool = Field(description="政府核验（true）或本人提供（false）")
    source: str
    predecessor_id: str | None


def document_out(document: Document, today: date) -> dict:
    status = documents.shown_status(document, today)
    return DocumentOut(id=document.id, kind=document.kind, number=document.number, holder_type=document.holder_type,
                       holder_name=document.holder_name, issuer=document.issuer, issued_on=document.issued_on,
                       valid_until=document.valid_until, status=status,
                       status_label=documents.STATUS_LABELS.get(status, status),
                       valid_now=documents.valid_now(document, today), verified=document.verified,
                       source=document.source, predecessor_id=document.predecessor_id).model_dump(mode="json")


@api
async def my_documents(request: web.Request) -> r200[list[DocumentOut]] | r401[ErrorBody] | r404[ErrorBody]:
    """My own documents (证照); an enterprise's are in its space."""
    app = request.app
    session = await current_session(request)
    today = app[keys.CLOCK].today()
    async with transaction(app) as db:
        person = await people.require_person(db, session.openid)
        found = await documents.documents_of(db, "person", person.id_number)
    return json_response([document_out(d, today) for d in found])


@api
async def my_document(request: web.Request, document_id: str, /) -> r200[DocumentOut] | r401[ErrorBody] | r404[ErrorBody]:
    """One document of mine or of an enterprise I act for (the latter is recorded in its access log)."""
    app = request.app
    session = await current_session(request)
    today = app[keys.CLOCK].today()
    async with transaction(app) as db:
        person, holders = await people.require_holders(db, session.openid, today)
        document = await documents.document_for(db, document_id, holders)
        if document.holder_type == "enterprise":
            await access_log.record(db, "enterprise", document.holder_id, access_log.ENTERPRISE_MEMBER,
                                    person.id_number, person.name, f"证照：{document.kind}", app[keys.CLOCK].now())
    return json_response(document_out(document, today))


class ShowCodeOut(BaseModel):
    code: str = Field(description="亮证码：出示给核验人员，5分钟内有效")
    verify_path: str
    expires_at: datetime


@api
async def show_code(request: web.Request, document_id: str, /) -> r201[ShowCodeOut] | r401[ErrorBody] | r404[ErrorBody]:
    """亮证: a verification code for one of my documents, valid for five minutes."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        _, holders = await people.require_holders(db, session.openid, app[keys.CLOCK].today())
        document = await documents.document_for(db, document_id, holders)
    code, expires = await documents.show_code(app, document, app[keys.CLOCK].now())
    return json_response({"code": code, "verify_path": f"/api/v1/verify/{code}", "expires_at": expires.isoformat()},
                         status=201)


class VerifyOut(BaseModel):
    holder_name: str = Field(description="持证人（脱敏）")
    holder_id: str = Field(description="证件号码（脱敏）")
    kind: str
    number: str
    issuer: str
    valid_until: date | None
    status_label: str
    valid_now: bool = Field(description="此刻是否有效")


@api
async def verify(request: web.Request, code: str, /) -> r200[VerifyOut] | r404[ErrorBody]:
    """What a clerk sees when opening a 亮证 code: the holder masked, the licence, valid now or not."""
    app = request.app
    now = app[keys.CLOCK].now()
    document_id = await documents.check_show_code(app, code, now)
    async with transaction(app) as db:
        document = await db.get(Document, document_id)
        if document is None:
            raise documents.ShowCodeInvalid()
        await access_log.record(db, document.holder_type, document.holder_id, access_log.VERIFIER, "亮证核验", "亮证核验",
                                f"证照：{document.kind}", now)
    status = documents.shown_status(document, now.date())
    holder_id = mask_id_number(document.holder_id) if document.holder_type == "person" else document.holder_id
    return json_response({"holder_name": mask_name(document.holder_name) if document.holder_type == "person"
                          else document.holder_name, "holder_id": holder_id, "kind": document.kind,
                          "number": document.number, "issuer": document.issuer,
                          "valid_until": document.valid_until.isoformat() if document.valid_until else None,
                          "status_label": documents.STATUS_LABELS.get(status, status),
                          "valid_now": documents.valid_now(document, now.date())})


class ReminderOut(BaseModel):
    document_id: str
    kind: str
    holder_name: str
    valid_until: date
    days_left: int
    next_reminder_on: date | None = Field(description="下一次提醒的日期")
    message: str


@api
async def my_reminders(request: web.Request) -> r200[list[ReminderOut]] | r401[ErrorBody] | r404[ErrorBody]:
    """Upcoming reminders: my licences and my enterprises' that expire soon, soonest first."""
    app = request.app
    session = await current_session(request)
    today = app[keys.CLOCK].today()
    async with transaction(app) as db:
        _, holders = await people.require_holders(db, session.openid, today)
        found = await reminders.upcoming(db, holders, today)
    return json_response([ReminderOut(**r).model_dump(mode="json") for r in found])


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/demo-login", demo_login)
    app.router.add_get("/api/v1/me", me, allow_head=False)
    app.router.add_get("/api/v1/me/documents", my_documents, allow_head=False)
    app.router.add_get("/api/v1/me/reminders", my_reminders, allow_head=False)
    app.router.add_get("/api/v1/me/documents/{document_id}", my_document, allow_head=False)
    app.router.add_post("/api/v1/me/documents/{document_id}/show-code", show_code)
    app.router.add_get("/api/v1/verify/{code}", verify, allow_head=False)
