"""Pushes from back-office systems (PRODUCT.md §5 "Integration"): real-name bindings from the
identity provider and licences from the e-licence library. The signature, timestamp and nonce
are checked by core.integration's middleware before these run; each event is applied once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r409
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core import keys
from core.api import MAX_INTEGER, ErrorBody, api
from core.calendar import CalendarRangeError
from core.calendar_overrides import FIRST_YEAR, LAST_YEAR
from core.db import transaction
from core.errors import InvalidInput
from core.integration import CLIENT, record_event
from core.web import json_response
from personal_space import applications, documents, people, reminders
from personal_space.models import Person


PERSON_NAME_LENGTH = Person.__table__.c.name.type.length  # an enterprise's name may be longer


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")  # systems may send more than we use
    event_id: str = Field(min_length=1, max_length=128, description="事件 id：同一事件重复推送只处理一次")


class IdentityBinding(_Event):
    openid: str = Field(min_length=1, max_length=64)
    unionid: str | None = Field(default=None, max_length=64)
    id_number: str = Field(description="身份证号（校验位须正确）")
    name: str = Field(min_length=1, max_length=PERSON_NAME_LENGTH)
    phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$")


class _Party(BaseModel):
    """A person or an enterprise named in an event."""

    type: Literal["person", "enterprise"]
    id: str = Field(description="身份证号或统一社会信用代码")
    name: str = Field(min_length=1, max_length=200, description=f"个人姓名最多{PERSON_NAME_LENGTH}个字符")

    @model_validator(mode="after")
    def _person_name_fits(self) -> _Party:
        if self.type == "person" and len(self.name) > PERSON_NAME_LENGTH:
            raise ValueError(f"个人姓名最多 {PERSON_NAME_LENGTH} 个字符")
        return self


class LicenceHolder(_Party):
    """持证人."""


class Representative(BaseModel):
    id_number: str
    name: str = Field(min_length=1, max_length=PERSON_NAME_LENGTH)


class Licence(_Event):
    licence_id: str = Field(min_length=1, max_length=128, description="电子证照库中的证照 id，各版本相同")
    version: int = Field(ge=1, le=MAX_INTEGER)
    kind: str = Field(min_length=1, max_length=64, description="证照类型，如 食品经营许可证")
    number: str = Field(min_length=1, max_length=128)
    holder: LicenceHolder
    issuer: str = Field(min_length=1, max_length=200)
    issued_on: date | None = None
    valid_until: date | None = Field(default=None, description="有效期至（含当日）；空为长期有效")
    status: Literal["valid", "expired", "cancelled", "revoked", "suspended"]
    verified: bool = Field(default=True, description="政府核验（true）或本人提供（false）")
    replaces: str | None = Field(default=None, description="换证时被替换的旧证照 id")
    legal_representative: Representative | None = Field(default=None, description="营业执照：法定代表人")


class Applicant(_Party):
    """申请人."""


class DeferredMaterial(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    due_date: date = Field(description="容缺材料承诺补交日期")


class ApplicationEventIn(_Event):
    application_no: str = Field(pattern=r"^SX\d{14}$", description="办件编号 SX+日期+6位序号")
    query_password: str | None = Field(default=None, min_length=4, max_length=32, description="查询密码；首次推送必填")
    item_code: str = Field(min_length=1, max_length=64)
    item_name: str = Field(min_length=1, max_length=200)
    department: str = Field(min_length=1, max_length=200)
    applicant: Applicant
    state: Literal["submitted", "pre_accepted", "accepted", "in_review", "approved", "rejected", "issued",
                   "supplement_requested", "not_accepted", "suspended", "withdrawn"]
    occurred_at: datetime = Field(description="事件发生时间（带时区）")
    promised_working_days: int | None = Field(default=None, ge=0, le=2000, description="承诺办结时限（工作日）")
    note: str | None = Field(default=None, max_length=2000)
    missing_materials: list[str] = Field(default_factory=list, description="补齐补正：一次性告知的全部缺少材料")
    deferred_materials: list[DeferredMaterial] = Field(default_factory=list, description="容缺受理：后补材料及期限")


class EventResult(BaseModel):
    event_id: str
    result: Literal["applied", "duplicate"]
    detail: str | None = None


def _result(event_id: str, applied: bool, detail: str | None = None) -> web.Response:
    return json_response({"event_id": event_id, "result": "applied" if applied else "duplicate", "detail": detail})


@api
async def push_identity_binding(request: web.Request, body: IdentityBinding
                                ) -> r200[EventResult] | r400[ErrorBody] | r401[ErrorBody] | r409[ErrorBody]:
    """Bind a WeChat user to a person after the identity provider's face check (实名绑定)."""
    app = request.app
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        if not await record_event(session, request[CLIENT], body.event_id, "identity_binding", now):
            return _result(body.event_id, False)
        await people.bind(session, body.openid, body.unionid, body.id_number, body.name, body.phone, now)
    return _result(body.event_id, True)


@api
async def push_licence(request: web.Request, body: Licence
                       ) -> r200[EventResult] | r400[ErrorBody] | r401[ErrorBody] | r409[ErrorBody]:
    """A licence from the e-licence library (电子证照库), applied once per licence id and version."""
    app = request.app
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        if not await record_event(session, request[CLIENT], body.event_id, "licence", now):
            return _result(body.event_id, False)
        event = {**body.model_dump(), "extra": body.model_extra or {}}
        outcome, licence = await documents.ingest_licence(session, request[CLIENT], event, now)
        if outcome != "unchanged":
            await reminders.plan_arrived_licence(session, licence, now.date(), now, app[keys.SETTINGS].notify_channel)
    return _result(body.event_id, True, outcome)


@api
async def push_application_event(request: web.Request, body: ApplicationEventIn
                                 ) -> r200[EventResult] | r400[ErrorBody] | r401[ErrorBody] | r409[ErrorBody]:
    """A status event of an application (办件) from the acceptance platform (统一受理平台)."""
    app = request.app
    now = app[keys.CLOCK].now()
    if body.occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at 须带时区，如 2026-11-05T10:12:00+08:00", code="naive_datetime")
    try:
        if not FIRST_YEAR <= body.occurred_at.year <= LAST_YEAR:  # nor could it be stored in UTC at the very ends
            raise CalendarRangeError()
        async with transaction(app) as session:
            if not await record_event(session, request[CLIENT], body.event_id, "application", now):
                return _result(body.event_id, False)
            application = await applications.apply_event(session, body.model_dump(), app[keys.CALENDAR].current,
                                                         now, app[keys.SETTINGS].notify_channel)
    except CalendarRangeError as exc:  # the promised date cannot be counted: nothing is kept
        raise InvalidInput(str(exc), code="date_out_of_range") from None
    return _result(body.event_id, True, application.state)


def setup(app: web.Application) -> None:
    app.router.add_post("/integration/v1/identity-bindings", push_identity_binding)
    app.router.add_post("/integration/v1/licences", push_licence)
    app.router.add_post("/integration/v1/application-events", push_application_event)
