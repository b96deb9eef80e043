"""Applications (办件) for the mini-program: mine, one by number (owner or query password), 好差评."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r404, r409, r429
from pydantic import BaseModel, Field

from core import keys, ratings
from core.api import ErrorBody, api
from core.auth import current_session
from core.db import transaction
from core.errors import RateLimited
from core.limits import give_back
from core.identity import mask_name
from core.web import client_address, json_response
from personal_space import applications, people
from personal_space.models import Application, ApplicationEvent, DeferredMaterial


class DeferredOut(BaseModel):
    name: str
    due_date: date


class StepOut(BaseModel):
    state: str
    state_label: str
    occurred_at: datetime
    note: str | None
    missing_materials: list[str]


class ApplicationOut(BaseModel):
    application_no: str
    item_code: str
    item_name: str
    department: str
    applicant_name: str = Field(description="申请人；凭查询密码查询时脱敏")
    state: str
    state_label: str
    accepted_on: date | None
    promised_working_days: int | None = Field(description="承诺办结时限（工作日）")
    due_date: date | None = Field(description="承诺办结日（计时暂停的工作日已顺延）；受理前和特别程序（计时暂停）期间为 null")
    due_provisional: bool = Field(description="为 true 时，到期日（或剩余工作日）依赖尚未公布放假安排的年份")
    timer_paused: bool = Field(description="特别程序期间暂停计时：此时没有承诺办结日，见 remaining_working_days")
    remaining_working_days: int | None = Field(description="暂停计时期间，恢复计时后尚余的工作日（受理前暂停时为 null）；其他时候为 null")
    missing_materials: list[str] = Field(description="补齐补正：需一次补齐的全部材料")
    deferred_materials: list[DeferredOut] = Field(description="容缺受理：后补材料及期限")
    timeline: list[StepOut]


def application_out(application: Application, steps: list[ApplicationEvent], deferred: list[DeferredMaterial], *,
                    holder: bool = True) -> dict:
    """The application as shown; to someone who is not its holder (a query-password read) the
    applicant's name is masked."""
    name = application.applicant_name if holder else mask_name(application.applicant_name)
    return ApplicationOut(
        application_no=application.application_no, item_code=application.item_code, item_name=application.item_name,
        department=application.department, applicant_name=name, state=application.state,
        state_label=applications.STATES[application.state], accepted_on=application.accepted_on,
        promised_working_days=application.promised_working_days, due_date=application.due_date,
        due_provisional=application.due_provisional, timer_paused=application.state == "suspended",
        remaining_working_days=application.remaining_working_days, missing_materials=application.missing_materials,
        deferred_materials=[DeferredOut(name=m.name, due_date=m.due_date) for m in deferred],
        timeline=[StepOut(state=e.state, state_label=applications.STATES[e.state], occurred_at=e.occurred_at,
                          note=e.note, missing_materials=e.missing_materials) for e in steps],
    ).model_dump(mode="json")


async def applications_out(db, holders: list[tuple[str, str]]) -> list[dict]:
    """The holders' applications as their owner sees them, newest first: timelines and 容缺
    materials read for all of them at once."""
    found = await applications.applications_of(db, holders)
    numbers = [a.application_no for a in found]
    steps, deferred = await applications.timelines(db, numbers), await applications.deferred_of_each(db, numbers)
    return [application_out(a, steps[a.application_no], deferred[a.application_no]) for a in found]


@api
async def my_applications(request: web.Request) -> r200[list[ApplicationOut]] | r401[ErrorBody] | r404[ErrorBody]:
    """My applications and those of the enterprises I act for, newest first.

    A constant number of queries however many there are: timelines and 容缺 materials are read
    for all of them at once.
    """
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        _, holders = await people.require_holders(db, session.openid, app[keys.CLOCK].today())
        return json_response(await applications_out(db, holders))


@api
async def get_application(
    request: web.Request, application_no: str, /,
    password: Annotated[str | None, Field(default=None, max_length=32, description="查询密码（非本人查询时必填）")] = None,
) -> r200[ApplicationOut] | r401[ErrorBody] | r404[ErrorBody] | r429[ErrorBody]:
    """One application: its owner sees it when logged in; anyone else needs its query password,
    sees the applicant's name masked, and is named in the applicant's access log.

    输错的编号和输错的密码得到完全相同的回答；失败次数过多会被限流。
    """
    app = request.app
    state = app[keys.STATE]
    session = await current_session(request) if "Authorization" in request.headers else None
    counters = (f"ip:{client_address(request)}", f"no:{applications.normalise_number(application_no)}")
    now = app[keys.CLOCK].now()
    # Taken before the check, so that guesses sent at the same moment cannot all pass; given back if right.
    attempt = None if password is None else await applications.LOOKUPS.attempt(state, now, *counters)
    if password is not None and attempt is None:
        raise RateLimited("查询失败次数过多，请10分钟后再试", code="lookup_rate_limited")
    async with transaction(app) as db:
        person = await people.bound_person(db, session.openid) if session else None
        holders = await people.holders(db, person, now.date()) if person else []
        application = await applications.application_for(db, application_no, holders, password)
        await give_back(state, attempt)
        holder = applications.held(application, holders)
        if not holder:
            await applications.note_password_read(db, application, person, "小程序", now)
        number = application.application_no
        out = application_out(application, await applications.timeline(db, number),
                              await applications.deferred_of(db, number), holder=holder)
    return json_response(out)


class RatingIn(BaseModel):
    level: ratings.Level
    reason: str | None = Field(default=None, max_length=1000, description="不满意、非常不满意时必填")


class RatingOut(BaseModel):
    application_no: str
    level: str
    needs_follow_up: bool = Field(description="差评将转12345热线跟进")


@api
async def rate_application(request: web.Request, application_no: str, /, body: RatingIn
                           ) -> r201[RatingOut] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody] | r409[ErrorBody]:
    """好差评 of a concluded application, by its owner, once."""
    app = request.app
    session = await current_session(request)
    async with transaction(app) as db:
        person, holders = await people.require_holders(db, session.openid, app[keys.CLOCK].today())
        application = await applications.application_for(db, application_no, holders, None)
        rating = await applications.rate(db, application, body.level, body.reason, person.id_number,
                                         app[keys.CLOCK].now())
    return json_response({"application_no": rating.application_no, "level": rating.level,
                          "needs_follow_up": rating.needs_follow_up}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/me/applications", my_applications, allow_head=False)
    app.router.add_get("/api/v1/applications/{application_no}", get_application, allow_head=False)
    app.router.add_post("/api/v1/applications/{application_no}/rating", rate_application)
