"""The console's JSON API (`/console/api/…`), used by the page at `/console/`.

Staff log in with a password and hold an HttpOnly cookie. What each role may do is decided by
`hotline.tickets` (ticket actions) and here (which lists a role may open). Every time staff open
a citizen's ticket, the read is written to the citizen's access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r415, r423, r429
from pydantic import BaseModel, Field
from sqlalchemy import select

from core import keys, ratings
from core.api import MAX_INTEGER, ErrorBody, RowId, api
from core.calendar_overrides import FIRST_YEAR
from core.db import transaction
from core.errors import InvalidInput
from core.web import json_response
from hotline import catalogue, handoffs, queues, rules, staff as staff_auth, tickets, views
from hotline.models import Handoff, TicketRating
from hotline.service import context
from hotline.tickets import Actor, Context, NewTicket
from personal_space import access_log

# --- login ------------------------------------------------------------------------------------


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=200)


class StaffOut(BaseModel):
    username: str
    name: str
    role: staff_auth.Role
    role_label: str
    department: str | None
    department_name: str | None


def _staff_out(staff) -> dict:
    return StaffOut(username=staff.username, name=staff.name, role=staff.role, role_label=staff_auth.ROLES[staff.role],
                    department=staff.department,
                    department_name=catalogue.departments().get(staff.department) if staff.department else None,
                    ).model_dump(mode="json")


@api
async def console_login(request: web.Request, body: LoginIn
                ) -> r200[StaffOut] | r400[ErrorBody] | r401[ErrorBody] | r415[ErrorBody] | r423[ErrorBody] \
        | r429[ErrorBody]:
    """Console login: sets the session cookie. Five failures within 15 minutes lock the username at
    the caller's address, twenty from anywhere lock it everywhere, until the oldest is 15 minutes old."""
    staff, token = await staff_auth.login(request, body.username, body.password)
    response = json_response(_staff_out(staff))
    staff_auth.set_cookie(request, response, token)
    return response


class NoFields(BaseModel):
    """`{}`: a POST without fields still sends a JSON body, since the console API takes no other
    (hotline.pages answers 415 to anything else)."""


@api
async def console_logout(request: web.Request, body: NoFields) -> r200[dict] | r400[ErrorBody] | r415[ErrorBody]:
    """End the console session."""
    response = json_response({"ok": True})
    await staff_auth.logout(request, response)
    return response


@api
async def console_me(request: web.Request) -> r200[StaffOut] | r401[ErrorBody]:
    """The logged-in console user."""
    async with transaction(request.app) as db:
        staff, _ = await staff_auth.current_staff(request, db)
        return json_response(_staff_out(staff))


class DepartmentOut(BaseModel):
    code: str
    name: str


class CategoryOut(BaseModel):
    name: str
    department: str
    subcategories: list[str]


class TimeLimitsOut(BaseModel):
    difficulty_days: dict[str, int] = Field(description="答复时限（工作日），按难度")
    reopen_days: int = Field(description="重办给予的工作日")
    max_extension_days: int = Field(description="延期最多可申请的工作日（只能申请一次）")


class MetaOut(BaseModel):
    types: list[str]
    difficulties: dict[str, str]
    time_limits: TimeLimitsOut
    states: dict[str, str]
    queues: dict[str, str]
    rating_levels: list[str]
    departments: list[DepartmentOut]
    categories: list[CategoryOut]


@api
async def console_meta(request: web.Request) -> r200[MetaOut] | r401[ErrorBody]:
    """What the console's forms offer: types, categories, departments, labels, and the time limits they explain."""
    async with transaction(request.app) as db:
        await staff_auth.current_staff(request, db)
    return json_response(MetaOut(
        types=list(rules.TYPES), difficulties=rules.DIFFICULTY_LABELS, states=rules.STATES, queues=queues.QUEUES,
        time_limits=TimeLimitsOut(difficulty_days=rules.DIFFICULTY_DAYS, reopen_days=rules.REOPEN_DAYS,
                                  max_extension_days=rules.MAX_EXTENSION_DAYS),
        rating_levels=list(ratings.LEVELS),
        departments=[DepartmentOut(code=c, name=n) for c, n in catalogue.departments().items()],
        categories=[CategoryOut(name=c, department=catalogue.department_for(c), subcategories=catalogue.subcategories(c))
                    for c in catalogue.categories()]).model_dump(mode="json"))


# --- lists ------------------------------------------------------------------------------------


class PageOut(BaseModel):
    tickets: list[views.TicketSummary]
    next: str | None = Field(description="下一页的 after 参数；null 表示没有更多")


@api
async def console_queue(request: web.Request, name: str, /,
                department: Annotated[str | None, Field(default=None, max_length=8)] = None,
                after: Annotated[str | None, Field(default=None, max_length=200)] = None,
                limit: Annotated[int, Field(default=queues.PAGE, ge=1, le=200, description="每页条数")] = queues.PAGE,
                ) -> r200[PageOut] | r400[ErrorBody] | r401[ErrorBody] | r403[ErrorBody]:
    """One page of a work queue; a department handler sees only its own department's tickets."""
    ctx = context(request.app)
    async with transaction(request.app) as db:
        staff, actor = await staff_auth.current_staff(request, db)
        if staff.role == "department":
            if name not in queues.DEPARTMENT_QUEUES:
                raise staff_auth.StaffOnly()
            department = staff.department
        elif department is not None:
            catalogue.check_department(department)
        page = await queues.queue(db, name, ctx.now, ctx.calendar, department=department, after=after, limit=limit)
        return json_response(PageOut(tickets=[views.summary(t, actor, ctx.calendar, ctx.today) for t in page.tickets],
                                     next=page.next).model_dump(mode="json"))


@api
async def console_search(request: web.Request, q: Annotated[str, Field(min_length=1, max_length=32)]
                 ) -> r200[PageOut] | r400[ErrorBody] | r401[ErrorBody]:
    """Find tickets by number (GD…) or by the caller's phone number; each citizen's ticket found
    is logged for that citizen, as a read of the ticket is."""
    ctx = context(request.app)
    async with transaction(request.app) as db:
        staff, actor = await staff_auth.current_staff(request, db)
        found = await queues.search(db, q, department=staff.department if staff.role == "department" else None)
        for ticket in found:
            await _note_read(db, ticket, actor, f"12345工单检索 {ticket.number}", ctx.now)
        return json_response(PageOut(tickets=[views.summary(t, actor, ctx.calendar, ctx.today) for t in found],
                                     next=None).model_dump(mode="json"))


# --- one ticket -------------------------------------------------------------------------------


async def _note_read(db, ticket, actor: Actor, resource: str, now) -> None:
    """A staff read of a bound citizen's ticket, in that citizen's access log."""
    if ticket.citizen_id:
        where = catalogue.departments().get(actor.department or "", "12345热线")
        await access_log.record(db, "person", ticket.citizen_id, access_log.STAFF, actor.id, f"{where}（{actor.name}）",
                                resource, now)


async def _detail(request: web.Request, db, ticket, actor: Actor, ctx: Context) -> dict:
    """The ticket as `actor` sees it; a staff read of a citizen's ticket is logged for the citizen."""
    events = await tickets.timeline(db, ticket.number)
    rated = list(await db.scalars(select(TicketRating).where(TicketRating.ticket_no == ticket.number)
                                    .order_by(TicketRating.round)))
    suggester = request.app[keys.CATEGORY_SUGGESTER].current
    suggestions = suggester.suggest(ticket.content, k=3) if actor.role == "agent" and suggester else []
    await _note_read(db, ticket, actor, f"12345工单 {ticket.number}", ctx.now)
    current = next((r for r in rated if r.round == ticket.reopen_count), None)
    return views.detail(ticket, actor, ctx.calendar, ctx.today, events, rated,
                        tickets.allowed_actions(actor, ticket, current), suggestions)


@api
async def console_get_ticket(request: web.Request, number: str, /) -> r200[views.TicketDetail] | r401[ErrorBody] | r404[ErrorBody]:
    """One ticket with its timeline, ratings, the actions the caller may take and (for agents) the suggested category."""
    ctx = context(request.app)
    async with transaction(request.app) as db:
        _, actor = await staff_auth.current_staff(request, db)
        ticket = await tickets.get_ticket(db, number, actor)
        return json_response(await _detail(request, db, ticket, actor, ctx))


class PhoneTicketIn(BaseModel):
    type: rules.TicketType
    content: str = Field(min_length=1, max_length=4000)
    contact_name: str | None = Field(default=None, max_length=64)
    contact_phone: str | None = Field(default=None, pattern=r"^1\d{10}$|^0\d{9,11}$", description="来电号码")
    anonymous: bool = False
    location: str | None = Field(default=None, max_length=200)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    category: str | None = Field(default=None, max_length=32)
    subcategory: str | None = Field(default=None, max_length=64)
    difficulty: rules.Difficulty = "general"

    model_config = {"extra": "forbid"}


@api
async def register_call(request: web.Request, body: PhoneTicketIn
                        ) -> r201[views.TicketDetail] | r400[ErrorBody] | r401[ErrorBody] | r403[ErrorBody] \
        | r415[ErrorBody]:
    """An agent registers a phone call as a ticket (accepted today)."""
    ctx = context(request.app)
    async with transaction(request.app) as db:
        staff, actor = await staff_auth.current_staff(request, db)
        staff_auth.require_role(staff, "agent")
        ticket = await tickets.register(db, NewTicket(channel="phone", **body.model_dump()), actor, ctx)
        return json_response(await _detail(request, db, ticket, actor, ctx), status=201)


class ActionIn(BaseModel):
    """The fields an action may take; each action reads the ones it needs."""

    note: str | None = Field(default=None, max_length=4000, description="说明、理由、回访情况或协办意见")
    department: str | None = Field(default=None, max_length=8, description="派单、改派：主办单位代码")
    assist_departments: list[str] | None = Field(default=None, max_length=10, description="协办单位代码")
    reply: str | None = Field(default=None, max_length=4000, description="答复内容")
    days: int | None = Field(default=None, description="延期工作日数")
    type: str | None = Field(default=None, max_length=8)
    category: str | None = Field(default=None, max_length=32)
    subcategory: str | None = Field(default=None, max_length=64)
    difficulty: str | None = Field(default=None, max_length=16)
    reasonable: bool | None = Field(default=None, description="差评认定")
    reached: bool | None = Field(default=None, description="回访是否联系上")

    model_config = {"extra": "forbid"}


STAFF_ACTIONS = sorted(set(rules.ACTIONS) - {"supplement", "withdraw", "rate"})


@api
async def console_act(request: web.Request, number: str, action: str, /, body: ActionIn
              ) -> r200[views.TicketDetail] | r400[ErrorBody] | r401[ErrorBody] | r403[ErrorBody] | r404[ErrorBody] \
        | r409[ErrorBody] | r415[ErrorBody]:
    """Take an action on a ticket (派单 dispatch, 签收 sign, 退单 return, 答复 reply, 回访 callback, 办结 close, …).

    不允许的操作（角色不符或状态不符）返回稳定的错误代码，工单保持不变。
    """
    if action not in STAFF_ACTIONS:
        raise InvalidInput(f"未知的操作：{action}", code="unknown_action")
    ctx = context(request.app)
    async with transaction(request.app) as db:
        _, actor = await staff_auth.current_staff(request, db)
        ticket = await tickets.get_ticket(db, number, actor, for_update=True)
        payload = body.model_dump(exclude_none=True)
        await tickets.perform(db, ticket, actor, action, payload, ctx)
        return json_response(await _detail(request, db, ticket, actor, ctx))


# --- supervision ------------------------------------------------------------------------------


class SupervisionOut(BaseModel):
    id: int
    ticket_no: str
    kind: str = Field(description="yellow 黄牌 | red 红牌 | sign_overdue 超期未签收 | urge 督办员督办")
    raised_on: date
    department: str | None
    department_name: str | None


class KpiOut(BaseModel):
    department: str
    department_name: str
    assigned: int
    replied: int
    on_time: int
    open_overdue: int
    reply_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    average_reply_working_days: float | None


@api
async def supervision_records(request: web.Request,
                              department: Annotated[str | None, Field(default=None, max_length=8)] = None,
                              after: Annotated[int | None, Field(default=None, ge=1, le=MAX_INTEGER)] = None,
                              ) -> r200[list[SupervisionOut]] | r401[ErrorBody] | r403[ErrorBody]:
    """督办 records, newest first (supervisors and agents; a department sees its own)."""
    async with transaction(request.app) as db:
        staff, _ = await staff_auth.current_staff(request, db)
        if staff.role == "department":
            department = staff.department
        rows = await queues.supervisions(db, department=department, after=after)
        names = catalogue.departments()
        return json_response([SupervisionOut(id=r.id, ticket_no=r.ticket_no, kind=r.kind, raised_on=r.raised_on,
                                             department=r.department, department_name=names.get(r.department or ""),
                                             ).model_dump(mode="json") for r in rows])


@api
async def console_kpis(request: web.Request,
                       since: Annotated[date | None, Field(default=None, ge=date(FIRST_YEAR, 1, 1),
                                                          description="统计起始日（2000年起）")] = None,
                       ) -> r200[list[KpiOut]] | r401[ErrorBody] | r403[ErrorBody]:
    """Department KPIs: on-time rate, reply rate, satisfaction rate, average working days to reply, open overdue."""
    ctx = context(request.app)
    async with transaction(request.app) as db:
        staff, _ = await staff_auth.current_staff(request, db)
        staff_auth.require_role(staff, "supervisor", "agent")
        found = await queues.department_kpis(db, ctx.now, since)
    names = catalogue.departments()
    return json_response([KpiOut(department_name=names.get(k.department, k.department), **k.__dict__
                                 ).model_dump(mode="json") for k in found])


# --- handoffs ---------------------------------------------------------------------------------


class HandoffOut(BaseModel):
    id: int
    state: handoffs.State
    taken_by: str | None = Field(description="接待的坐席：最近一次回复的用户名")
    window_open: bool = Field(description="微信48小时客服消息窗口是否仍开放")
    last_user_message_at: str
    transcript: list[dict]
    replies: list[dict]


async def _handoff_out(db, handoff: Handoff, now) -> dict:
    return (await _handoffs_out(db, [handoff], now))[0]


async def _handoffs_out(db, found: list[Handoff], now) -> list[dict]:
    replies = await handoffs.replies_of(db, [h.id for h in found])
    return [_one_handoff(h, replies[h.id], now) for h in found]


def _one_handoff(handoff: Handoff, replies: list, now) -> dict:
    return HandoffOut(id=handoff.id, state=handoff.state, taken_by=handoff.taken_by, window_open=handoffs.window_open(handoff, now),
                      last_user_message_at=handoff.last_user_message_at.isoformat(), transcript=handoff.transcript,
                      replies=[{"text": r.text, "author": r.author, "delivery": r.delivery, "at": r.at.isoformat()}
                               for r in replies]).model_dump(mode="json")


@api
async def list_handoffs(request: web.Request) -> r200[list[HandoffOut]] | r401[ErrorBody] | r403[ErrorBody]:
    """Chats handed over by the bot (转人工), longest waiting first."""
    now = request.app[keys.CLOCK].now()
    async with transaction(request.app) as db:
        staff, _ = await staff_auth.current_staff(request, db)
        staff_auth.require_role(staff, "agent")
        return json_response(await _handoffs_out(db, await handoffs.waiting(db), now))


class HandoffReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=600)


@api
async def reply_handoff(request: web.Request, handoff_id: RowId, /, body: HandoffReplyIn
                        ) -> r200[HandoffOut] | r400[ErrorBody] | r401[ErrorBody] | r403[ErrorBody] | r404[ErrorBody] \
        | r409[ErrorBody] | r415[ErrorBody]:
    """Answer a handed-over chat: sent as a WeChat customer-service message within 48 hours, else undeliverable."""
    return await _agent_on_handoff(request, handoff_id, lambda db, handoff, staff, now: handoffs.answer(
        db, handoff, staff.username, body.text, now))


@api
async def close_handoff(request: web.Request, handoff_id: RowId, /, body: NoFields
                        ) -> r200[HandoffOut] | r400[ErrorBody] | r401[ErrorBody] | r403[ErrorBody] | r404[ErrorBody] \
        | r409[ErrorBody] | r415[ErrorBody]:
    """End a handed-over chat."""
    return await _agent_on_handoff(request, handoff_id, lambda db, handoff, staff, now: handoffs.close(db, handoff, now))


async def _agent_on_handoff(request: web.Request, handoff_id: int, act) -> web.Response:
    """An agent's step on a handoff, under its row lock, in one transaction; the handoff as it then stands."""
    now = request.app[keys.CLOCK].now()
    async with transaction(request.app) as db:
        staff, _ = await staff_auth.current_staff(request, db)
        staff_auth.require_role(staff, "agent")
        handoff = await handoffs.get_handoff(db, handoff_id, for_update=True)
        await act(db, handoff, staff, now)
        return json_response(await _handoff_out(db, handoff, now))


def setup(app: web.Application) -> None:
    add = app.router
    add.add_post("/console/api/login", console_login)
    add.add_post("/console/api/logout", console_logout)
    add.add_get("/console/api/me", console_me, allow_head=False)
    add.add_get("/console/api/meta", console_meta, allow_head=False)
    add.add_get("/console/api/queues/{name}", console_queue, allow_head=False)
    add.add_get("/console/api/search", console_search, allow_head=False)
    add.add_post("/console/api/tickets", register_call)
    add.add_get("/console/api/tickets/{number}", console_get_ticket, allow_head=False)
    add.add_post("/console/api/tickets/{number}/actions/{action}", console_act)
    add.add_get("/console/api/supervisions", supervision_records, allow_head=False)
    add.add_get("/console/api/kpis", console_kpis, allow_head=False)
    add.add_get("/console/api/handoffs", list_handoffs, allow_head=False)
    add.add_post("/console/api/handoffs/{handoff_id}/reply", reply_handoff)
    add.add_post("/console/api/handoffs/{handoff_id}/close", close_handoff)
