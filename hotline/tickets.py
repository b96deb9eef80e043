"""Tickets (工单): registration, the actions of each role, and what the citizen is told.

Every function works in the caller's transaction and takes the ticket's row lock first, so two
agents (or a department and the escalation worker) acting at once are serialised, and a refused
action leaves the ticket exactly as it was: all checks run before the first change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratings
from core.calendar import WorkingCalendar
from core.db import grouped, insert_for
from core.errors import AppError, Conflict, InvalidInput, NotFound
from core.identity import mask_personal_data
from core.outbox import Draft, enqueue
from hotline import catalogue, rules
from hotline.models import Supervision, Ticket, TicketEvent, TicketRating, TicketSequence
from personal_space.reminders import drafts_for


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    message = "未找到该工单"


class RoleNotAllowed(AppError):
    status = 403
    code = "action_not_allowed_for_role"


class StateNotAllowed(Conflict):
    code = "action_not_allowed_in_state"


@dataclass(frozen=True)
class Actor:
    """Who acts: a citizen (id = 身份证号), staff (id = username), or the system."""

    role: str  # citizen | agent | supervisor | department | system
    id: str
    name: str
    department: str | None = None


SYSTEM = Actor("system", "system", "系统")


@dataclass(frozen=True)
class Context:
    """What every change needs: the calendar in force, the time, the citizen notification channel."""

    calendar: WorkingCalendar
    now: datetime
    channel: str = "console"

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass
class NewTicket:
    type: str
    content: str
    channel: str  # wechat | miniapp | phone | rating
    contact_name: str | None = None
    contact_phone: str | None = None
    anonymous: bool = False
    citizen_id: str | None = None
    location: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    category: str | None = None
    subcategory: str | None = None
    difficulty: str = "general"
    application_no: str | None = None
    source_key: str | None = None
    extra: dict = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------


def parties(actor: Actor, ticket: Ticket) -> set[str]:
    """The capacities in which `actor` stands to `ticket` (empty: it is not theirs to see)."""
    if actor.role == "agent":
        return {rules.AGENT}
    if actor.role == "supervisor":
        return {rules.SUPERVISOR}
    if actor.role == "department":
        if ticket.lead_department == actor.department:
            return {rules.LEAD}
        return {rules.ASSIST} if actor.department in (ticket.assist_departments or []) else set()
    if actor.role == "citizen":
        return {rules.CITIZEN} if ticket.citizen_id == actor.id else set()
    return {rules.AGENT} if actor.role == "system" else set()


async def get_ticket(session: AsyncSession, number: str, actor: Actor, *, for_update: bool = False) -> Ticket:
    """The ticket if `actor` may see it; TicketNotFound otherwise, whether it exists or not."""
    ticket = await session.get(Ticket, number.strip().upper(), with_for_update=for_update)
    if ticket is None or not parties(actor, ticket):
        raise TicketNotFound()
    return ticket


def rating_refusal(action: str, ticket: Ticket, rating: TicketRating | None) -> Conflict | None:
    """Why `action` cannot be taken with the current round's `rating` as it stands, or None: the
    one statement of when a ticket may be rated (once per answer), judged (a bad rating not yet
    judged) and redone (a bad rating judged reasonable, of a department's answer)."""
    if action == "rate" and rating is not None:
        return Conflict("本次答复已评价过", code="already_rated")
    if action == "judge_rating" and (rating is None or not rating.needs_judgement or rating.reasonable is not None):
        return Conflict("没有待认定的差评", code="no_rating_to_judge")
    if action == "reopen":
        if rating is None or rating.reasonable is not True:
            return Conflict("经认定为合理差评的工单才能重办", code="reopen_needs_reasonable_rating")
    return None


def allowed_actions(actor: Actor, ticket: Ticket, rating: TicketRating | None = None) -> list[str]:
    """The actions `actor` may take now (what the console offers as buttons); `rating` is the
    current round's, which decides whether rating, a judgement or 重办 is possible."""
    mine = parties(actor, ticket)
    return [name for name, action in rules.ACTIONS.items()
            if action.parties & mine and ticket.state in action.from_states
            and rating_refusal(name, ticket, rating) is None]


async def timeline(session: AsyncSession, number: str, *, public_only: bool = False) -> list[TicketEvent]:
    return (await timelines(session, [number], public_only=public_only))[number]


async def timelines(session: AsyncSession, numbers: list[str], *, public_only: bool = False
                    ) -> dict[str, list[TicketEvent]]:
    """Each ticket's events in order, in one query."""
    query = select(TicketEvent).order_by(TicketEvent.at, TicketEvent.id)
    if public_only:
        query = query.where(TicketEvent.public.is_(True))
    return await grouped(session, query, TicketEvent.ticket_no, numbers)


async def current_rating(session: AsyncSession, ticket: Ticket) -> TicketRating | None:
    return (await current_ratings(session, [ticket])).get(ticket.number)


async def current_ratings(session: AsyncSession, tickets: list[Ticket]) -> dict[str, TicketRating]:
    """The rating of each ticket's current round (重办 starts a new one), in one query."""
    if not tickets:
        return {}
    rounds = [(ticket.number, ticket.reopen_count) for ticket in tickets]
    rows = await session.scalars(select(TicketRating)
                                 .where(tuple_(TicketRating.ticket_no, TicketRating.round).in_(rounds)))
    return {rating.ticket_no: rating for rating in rows}


async def _rating_for(session: AsyncSession, ticket: Ticket, action: str) -> TicketRating | None:
    """The current round's rating, once it allows `action` (its rating_refusal raised otherwise)."""
    rating = await current_rating(session, ticket)
    if (refusal := rating_refusal(action, ticket, rating)) is not None:
        raise refusal
    return rating


async def citizen_tickets(session: AsyncSession, citizen_id: str, *, limit: int = 100) -> list[Ticket]:
    """The tickets a citizen filed, newest first."""
    return list(await session.scalars(select(Ticket).where(Ticket.citizen_id == citizen_id)
                                      .order_by(Ticket.created_at.desc(), Ticket.number.desc()).limit(limit)))


async def ticket_filed_with(session: AsyncSession, number: str, phone: str | None) -> Ticket | None:
    """The ticket if `phone` is the contact phone it was filed with: how someone without the
    real-name binding shows the ticket is theirs."""
    ticket = await session.get(Ticket, number.strip().upper())
    if ticket is None or not phone or ticket.contact_phone != phone:
        return None
    return ticket


async def ratable_tickets(session: AsyncSession, actor: Actor, number: str | None = None) -> list[Ticket]:
    """The citizen's answered tickets whose current answer they may still rate, the latest
    answer first; only ticket `number` when given. Whether one may be rated is allowed_actions'
    call, so every answered ticket of theirs is read (a citizen's tickets are few)."""
    query = select(Ticket).where(Ticket.citizen_id == actor.id, Ticket.state.in_(rules.ANSWERED))
    if number is not None:
        query = query.where(Ticket.number == number.strip().upper())
    answered = list(await session.scalars(query.order_by(Ticket.replied_at.desc(), Ticket.number)))
    rated = await current_ratings(session, answered)
    return [t for t in answered if "rate" in allowed_actions(actor, t, rated.get(t.number))]


def promise(ticket: Ticket, today: date) -> str:
    """What the citizen is promised: 按规定将在N个工作日内，即M月D日前答复."""
    return rules.promise_text(ticket.time_limit, ticket.due_date, today, ticket.due_provisional)


# --- registration ----------------------------------------------------------------------------


async def next_number(session: AsyncSession, day: date) -> str:
    """GD + YYYYMMDD + the day's next 6-digit sequence; the upsert's row lock serialises issuers."""
    statement = (insert_for(session, TicketSequence).values(day=day, last=1)
                 .on_conflict_do_update(index_elements=["day"], set_={"last": TicketSequence.last + 1})
                 .returning(TicketSequence.last))
    sequence = await session.scalar(statement)
    if sequence > 999_999:
        raise Conflict("当日工单编号已用尽", code="ticket_numbers_exhausted")
    return f"GD{day:%Y%m%d}{sequence:06d}"


def _check_new(new: NewTicket) -> None:
    if new.type not in rules.TYPES:
        raise InvalidInput(f"工单类型应为以下之一：{'、'.join(rules.TYPES)}", code="invalid_ticket_type")
    if not new.content.strip():
        raise InvalidInput("请填写诉求内容", code="content_required")
    if new.difficulty not in rules.DIFFICULTY_DAYS:
        raise InvalidInput("难度应为 general（一般）或 difficult（疑难）", code="invalid_difficulty")
    if new.category is not None:
        catalogue.check_category(new.category, new.subcategory)
    if not (new.contact_phone or new.citizen_id) and new.channel != "phone":
        raise InvalidInput("请留下联系电话，以便承办单位答复", code="contact_required")


async def register(session: AsyncSession, new: NewTicket, actor: Actor, ctx: Context) -> Ticket:
    """A new ticket, accepted today: its number, deadline and first timeline step."""
    _check_new(new)
    ticket = Ticket(
        number=await next_number(session, ctx.today), type=new.type, category=new.category,
        subcategory=new.subcategory, difficulty=new.difficulty, content=new.content.strip(),
        location=new.location, latitude=new.latitude, longitude=new.longitude, channel=new.channel,
        citizen_id=new.citizen_id, contact_name=new.contact_name, contact_phone=new.contact_phone,
        anonymous=new.anonymous, state="registered", pending=True, assist_departments=[],
        accepted_on=ctx.today, clock_start=ctx.today, working_days=rules.DIFFICULTY_DAYS[new.difficulty],
        extension_days=0, card="none", reopen_count=0,
        application_no=new.application_no, source_key=new.source_key, created_by=actor.id,
        created_at=ctx.now, updated_at=ctx.now)
    set_deadline(ticket, ctx.calendar)
    session.add(ticket)
    await session.flush()
    await _record(session, ticket, actor, "register", None, ctx, data=new.extra)
    await _tell_citizen(session, ticket, "register", ctx,
                        f"您的诉求已登记，工单编号{ticket.number}，{promise(ticket, ctx.today)}。")
    return ticket


# --- actions ---------------------------------------------------------------------------------


async def perform(session: AsyncSession, ticket: Ticket, actor: Actor, action: str, payload: dict,
                  ctx: Context) -> Ticket:
    """Do `action` as `actor`, or refuse with a stable code and leave the ticket unchanged."""
    spec = rules.ACTIONS.get(action)
    if spec is None:
        raise InvalidInput(f"未知的操作：{action}", code="unknown_action")
    if not spec.parties & parties(actor, ticket):
        raise RoleNotAllowed(f"您的角色不能对该工单进行“{spec.label}”")
    if ticket.state not in spec.from_states:
        raise StateNotAllowed(f"工单当前为“{rules.STATES[ticket.state]}”，不能{spec.label}")
    before = ticket.state
    note = (payload.get("note") or "").strip() or None
    handler = _HANDLERS[action]
    data = await handler(session, ticket, actor, payload, note, ctx)
    if spec.to_state is not None:
        ticket.state = spec.to_state
    ticket.pending = ticket.state in rules.PENDING
    _settle_card(ticket, ctx)
    ticket.updated_at = ctx.now
    await _record(session, ticket, actor, action, before, ctx, note=note, data=data or {})
    return ticket


def _settle_card(ticket: Ticket, ctx: Context) -> None:
    """Lower a card the ticket no longer deserves (answered, or a later deadline); raising one
    is the escalation scan's job, since raising comes with a 督办 record and notices."""
    wanted = rules.card_for(ctx.calendar, ctx.now, ticket.due_date, ticket.due_at) if ticket.pending else "none"
    if rules.CARD_RANK[wanted] < rules.CARD_RANK[ticket.card]:
        ticket.card = wanted
        if wanted == "none":
            ticket.card_notified_on = None


def _require_text(value: str | None, what: str, code: str) -> str:
    if not value:
        raise InvalidInput(f"请填写{what}", code=code)
    return value


def set_deadline(ticket: Ticket, calendar: WorkingCalendar) -> None:
    """The due date, its moment and whether it is a forecast, by the deadline rule from the
    ticket's clock: on registration, on a change of its time limit and on a calendar update."""
    deadline = calendar.deadline(ticket.clock_start, ticket.time_limit)
    ticket.due_date, ticket.due_at, ticket.due_provisional = deadline.due_date, deadline.deadline, deadline.provisional


async def _classify(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    changed = {}
    if (kind := payload.get("type")) is not None:
        if kind not in rules.TYPES:
            raise InvalidInput(f"工单类型应为以下之一：{'、'.join(rules.TYPES)}", code="invalid_ticket_type")
        changed["type"] = kind
    if (category := payload.get("category")) is not None:
        catalogue.check_category(category, payload.get("subcategory"))
        changed["category"], changed["subcategory"] = category, payload.get("subcategory")
    if (difficulty := payload.get("difficulty")) is not None:
        if difficulty not in rules.DIFFICULTY_DAYS:
            raise InvalidInput("难度应为 general（一般）或 difficult（疑难）", code="invalid_difficulty")
        if ticket.difficulty == "difficult" and difficulty == "general":
            raise Conflict("疑难工单不能降为一般", code="difficulty_downgrade")
        if difficulty == "difficult" and ticket.difficulty != "difficult" and ticket.reopen_count == 0 \
                and ctx.now > ticket.due_at:  # (after a 重办 the label does not move the deadline)
            # Upgrading would move the deadline past the day it was missed and clear the red card.
            raise Conflict("工单已超期，不能再升级为疑难", code="deadline_passed")
        changed["difficulty"] = difficulty
    for name, value in changed.items():
        setattr(ticket, name, value)
    if changed.get("difficulty") == "difficult" and ticket.reopen_count == 0:
        ticket.working_days = rules.DIFFICULTY_DAYS["difficult"]
        set_deadline(ticket, ctx.calendar)
    return changed


def _send_to(ticket: Ticket, department: str, assist: list[str], ctx: Context) -> None:
    ticket.lead_department = department
    ticket.assist_departments = sorted({catalogue.check_department(d) for d in assist} - {department})
    ticket.dispatched_at, ticket.signed_at = ctx.now, None
    ticket.sign_due_date = ctx.calendar.add_working_days(ctx.today, rules.SIGN_WITHIN)
    ticket.return_due_date = ctx.calendar.add_working_days(ctx.today, rules.RETURN_WITHIN)
    ticket.state_before_return = None
    ticket.sign_alerted_on = None


async def _dispatch(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    department = catalogue.check_department(payload.get("department"))
    _send_to(ticket, department, payload.get("assist_departments") or [], ctx)
    name = catalogue.departments()[department]
    await _tell_citizen(session, ticket, "dispatch", ctx,
                        f"您的工单{ticket.number}已交{name}办理，{promise(ticket, ctx.today)}。")
    return {"department": department, "assist_departments": ticket.assist_departments}


async def _redispatch(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    department = catalogue.check_department(payload.get("department"))
    if department == ticket.lead_department:
        raise Conflict("改派须换一个承办单位", code="same_department")
    _require_text(note, "改派原因", "reason_required")
    previous = ticket.lead_department
    data = await _dispatch(session, ticket, actor, payload, note, ctx)
    return {**data, "previous_department": previous}  # the deadline is kept: 改派不重新计时


def _set_reply(ticket: Ticket, text: str, department: str | None, ctx: Context) -> None:
    ticket.reply, ticket.replied_at, ticket.replied_by_department = text, ctx.now, department
    ticket.reply_working_days = max(0, ctx.calendar.working_days_between(ticket.clock_start, ctx.today))


async def _answer(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    text = _require_text((payload.get("reply") or "").strip(), "答复内容", "reply_required")
    _set_reply(ticket, text, None, ctx)
    await _tell_citizen(session, ticket, "reply", ctx, f"您的工单{ticket.number}已答复：{text}")
    return {"reply": text}


async def _reply(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    text = _require_text((payload.get("reply") or "").strip(), "答复内容", "reply_required")
    if ticket.extension_state == "requested":
        ticket.extension_state = "refused"  # replied before the decision: the request lapses
    _set_reply(ticket, text, ticket.lead_department, ctx)
    name = catalogue.departments()[ticket.lead_department]
    await _tell_citizen(session, ticket, "reply", ctx, f"您的工单{ticket.number}已由{name}答复：{text}")
    return {"reply": text}


async def _accept_return(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    previous = ticket.lead_department
    ticket.lead_department, ticket.assist_departments = None, []
    ticket.dispatched_at = ticket.sign_due_date = ticket.return_due_date = None
    ticket.state_before_return = None
    return {"previous_department": previous}


async def _refuse_return(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "不同意退单的理由", "reason_required")
    ticket.state = ticket.state_before_return or "dispatched"
    ticket.state_before_return = None
    ticket.return_due_date = None  # one return per dispatch: refused, it is the department's to handle
    if ticket.state == "dispatched":  # the days spent waiting on the hotline do not count against the signing
        ticket.sign_due_date = ctx.calendar.add_working_days(ctx.today, rules.SIGN_WITHIN)
        ticket.sign_alerted_on = None
    return {"back_to": ticket.state}


async def _sign(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    ticket.signed_at = ctx.now
    return {"late": ticket.sign_due_date is not None and ctx.today > ticket.sign_due_date}


async def _return(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "退单理由", "reason_required")
    if ticket.return_due_date is None and ticket.dispatched_at is not None:
        raise Conflict("该工单的退单已被驳回，请按派单办理；如有异议请与12345热线联系", code="return_already_refused")
    if ticket.return_due_date is None or ctx.today > ticket.return_due_date:
        raise Conflict("退单须在派单后2个工作日内提出，已超过退单期限", code="return_window_passed")
    ticket.state_before_return = ticket.state
    return {"department": ticket.lead_department}


async def _request_extension(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "延期理由", "reason_required")
    if ticket.extension_state is not None:
        raise Conflict("每张工单只能申请一次延期", code="extension_already_used")
    if ctx.now > ticket.due_at:
        raise Conflict("工单已超期，不能再申请延期", code="deadline_passed")
    days = payload.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= rules.MAX_EXTENSION_DAYS:
        raise InvalidInput(f"延期天数应为 1 到 {rules.MAX_EXTENSION_DAYS} 个工作日", code="extension_too_long")
    ticket.extension_state, ticket.extension_requested_days = "requested", days
    return {"days": days}


async def _approve_extension(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    days = payload.get("days", ticket.extension_requested_days)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= (ticket.extension_requested_days or 0):
        raise InvalidInput("批准的延期天数应在 1 到申请天数之间", code="extension_too_long")
    ticket.extension_state, ticket.extension_days = "approved", days
    set_deadline(ticket, ctx.calendar)
    await _tell_citizen(session, ticket, "extension", ctx,
                        f"您的工单{ticket.number}经批准延期{days}个工作日，将在{rules.plain_date(ticket.due_date, ctx.today)}前答复。")
    return {"days": days, "due_date": ticket.due_date.isoformat()}


async def _refuse_extension(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "不同意延期的理由", "reason_required")
    ticket.extension_state = "refused"
    return {}


async def _callback(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "回访情况", "callback_note_required")
    return {"reached": bool(payload.get("reached", True))}


async def _close(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    ticket.closed_at = ctx.now
    await _tell_citizen(session, ticket, "close", ctx,
                        f"您的工单{ticket.number}已办结，感谢您的反映。欢迎对办理结果进行评价。")
    return {}


async def _judge_rating(session, ticket: Ticket, actor: Actor, payload: dict, note, ctx: Context) -> dict:
    rating = await _rating_for(session, ticket, "judge_rating")
    reasonable = payload.get("reasonable")
    if not isinstance(reasonable, bool):
        raise InvalidInput("请认定差评是否合理（reasonable: true 或 false）", code="judgement_required")
    rating.reasonable, rating.judged_by, rating.judged_at, rating.judgement_note = reasonable, actor.id, ctx.now, note
    return {"reasonable": reasonable}


async def _reopen(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    await _rating_for(session, ticket, "reopen")
    ticket.reopen_count += 1
    ticket.clock_start, ticket.working_days, ticket.extension_days = ctx.today, rules.REOPEN_DAYS, 0
    ticket.extension_state = ticket.extension_requested_days = None  # the new round may ask for its own
    set_deadline(ticket, ctx.calendar)
    if ticket.lead_department is None:  # the hotline answered itself: back to the agents, to dispatch or answer
        ticket.state = "registered"
    else:
        ticket.state = "reopened"
        _send_to(ticket, ticket.lead_department, ticket.assist_departments, ctx)
    # The reply round starts over: what the KPIs read of the last one goes with it.
    ticket.reply = ticket.replied_at = ticket.closed_at = ticket.reply_working_days = None
    await _tell_citizen(session, ticket, "reopen", ctx,
                        f"您的工单{ticket.number}已安排重新办理，{promise(ticket, ctx.today)}。")
    return {"due_date": ticket.due_date.isoformat()}


async def _urge(session, ticket: Ticket, actor: Actor, payload: dict, note, ctx: Context) -> dict:
    """督办 by a supervisor: a 督办 record (once a day per ticket) and a notice to whoever holds it."""
    _require_text(note, "督办意见", "note_required")
    department = ticket.holder
    recorded = await session.execute(insert_for(session, Supervision).values(
        ticket_no=ticket.number, kind="urge", raised_on=ctx.today, department=department, due_at=ticket.due_at,
        created_at=ctx.now).on_conflict_do_nothing())
    if recorded.rowcount != 1:
        raise Conflict("今天已督办过该工单", code="already_urged_today")
    recipient = department or "hotline"
    who = catalogue.departments().get(recipient, "12345热线")
    if ticket.anonymous and department is not None:  # a department never learns an anonymous caller's numbers
        note = mask_personal_data(note)
    await enqueue(session, [Draft(key=f"urge:{ticket.number}:{ctx.today.isoformat()}", channel="console",
                                  address=f"staff:{recipient}", recipient=f"staff:{recipient}", kind="ticket_urge",
                                  data={"接收": who, "事项": f"工单督办（{actor.name}）：{note}", "工单编号": ticket.number,
                                        "答复期限": rules.plain_date(ticket.due_date, ctx.today)})], ctx.now)
    return {"department": department}


async def _assist_note(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "协办意见", "note_required")
    return {}


async def _supplement(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    _require_text(note, "补充内容", "note_required")
    return {}


async def _withdraw(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    return {}


async def _rate(session, ticket: Ticket, actor, payload: dict, note, ctx: Context) -> dict:
    level = payload.get("level")
    if level not in ratings.LEVELS:
        raise InvalidInput(f"评价应为以下之一：{'、'.join(ratings.LEVELS)}", code="invalid_rating_level")
    if level in ratings.BAD and not note:
        raise InvalidInput("选择“不满意”或“非常不满意”时请说明原因", code="rating_reason_required")
    await _rating_for(session, ticket, "rate")
    session.add(TicketRating(ticket_no=ticket.number, round=ticket.reopen_count, level=level, comment=note,
                             department=ticket.replied_by_department, rated_at=ctx.now,
                             needs_judgement=level in ratings.BAD))
    return {"level": level}


_HANDLERS = {
    "classify": _classify, "dispatch": _dispatch, "redispatch": _redispatch, "answer": _answer,
    "accept_return": _accept_return, "refuse_return": _refuse_return, "approve_extension": _approve_extension,
    "refuse_extension": _refuse_extension, "callback": _callback, "close": _close, "judge_rating": _judge_rating,
    "reopen": _reopen, "sign": _sign, "return": _return, "request_extension": _request_extension,
    "reply": _reply, "assist_note": _assist_note, "urge": _urge, "supplement": _supplement, "withdraw": _withdraw, "rate": _rate,
}
assert set(_HANDLERS) == set(rules.ACTIONS), "every action needs a handler"


# --- history and notices ---------------------------------------------------------------------


async def _record(session: AsyncSession, ticket: Ticket, actor: Actor, action: str, before: str | None,
                  ctx: Context, note: str | None = None, data: dict | None = None) -> TicketEvent:
    data = dict(data or {})
    if actor.department:
        data["department_code"] = actor.department
    event = TicketEvent(ticket_no=ticket.number, at=ctx.now, actor_role=actor.role, actor_id=actor.id,
                        actor_name=actor.name, action=action, from_state=before, to_state=ticket.state, note=note,
                        data=data, public=action in rules.PUBLIC_ACTIONS)
    session.add(event)
    await session.flush()
    return event


_STEP_LABELS = {"register": "已登记", "dispatch": "已派单", "reply": "已答复", "extension": "已延期",
                "close": "已办结", "reopen": "重办"}


async def _tell_citizen(session: AsyncSession, ticket: Ticket, step: str, ctx: Context, text: str) -> None:
    """A notice to whoever filed the ticket: their WeChat when bound, otherwise the phone on file
    (the console sender stands in for SMS). Written in the change's transaction: told once, and
    only of what happened."""
    key = f"ticket:{ticket.number}:{step}:{ctx.now.timestamp():.6f}"
    data = {"工单编号": ticket.number, "办理进度": _STEP_LABELS[step], "内容": text}
    page = f"pages/tickets/detail?no={ticket.number}"
    if ticket.citizen_id:
        drafts = await drafts_for(session, "person", ticket.citizen_id, key, "ticket_progress", data, ctx.today,
                                  ctx.channel, page=page)
    elif ticket.contact_phone:
        drafts = [Draft(key=f"{key}:sms", channel="console", address="sms", recipient=ticket.contact_phone,
                        kind="ticket_progress", data=data, page=page)]
    else:
        return
    await enqueue(session, drafts, ctx.now)
