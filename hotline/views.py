"""How a ticket is shown, per viewer: what the citizen, an agent and a department each see.

A department never sees an anonymous caller's name or phone, nor an ID or phone number typed
in the ticket's text, a rating's comment or the hotline's notes; nobody but the hotline sees the
phone of a caller it has not been dispatched to; the citizen sees only public steps, with the
hotline's staff named as "12345热线".
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from core.calendar import WorkingCalendar
from core.identity import mask_personal_data
from hotline import catalogue, rules, tickets
from hotline.models import Ticket, TicketEvent, TicketRating
from hotline.tickets import Actor


class TicketStep(BaseModel):
    at: datetime
    action: str
    action_label: str
    state: str
    state_label: str
    by: str = Field(description="经办方")
    note: str | None
    data: dict


class TicketDeadline(BaseModel):
    pending: bool = Field(description="true：待答复，期限在走；false：已答复或已撤回")
    due_date: date = Field(description="答复期限（第 N 个工作日）")
    due_at: datetime = Field(description="期限时刻：当日 23:59:59（北京时间）")
    provisional: bool = Field(description="为 true 时，期限依赖尚未公布放假安排的年份，为预测值")
    working_days: int = Field(description="时限（工作日），含批准的延期")
    remaining_working_days: int = Field(description="剩余工作日（今天不计）；已超期为负数：超期的工作日数，至少为 1")
    promise: str = Field(description="给群众看的期限说明")


class TicketSummary(BaseModel):
    number: str
    type: str
    category: str | None
    state: str
    state_label: str
    difficulty: str
    lead_department: str | None
    lead_department_name: str | None
    card: str = Field(description="none | yellow（黄牌）| red（红牌）")
    deadline: TicketDeadline
    contact_name: str | None
    preview: str
    created_at: datetime


class TicketRatingOut(BaseModel):
    round: int
    level: str
    comment: str | None
    rated_at: datetime
    reasonable: bool | None = Field(description="差评认定：true 合理，false 不合理，null 未认定")


class ActionOut(BaseModel):
    name: str
    label: str


class SuggestionOut(BaseModel):
    category: str
    department: str
    department_name: str
    score: float


class TicketDetail(TicketSummary):
    content: str
    location: str | None
    latitude: float | None
    longitude: float | None
    channel: str
    contact_phone: str | None
    anonymous: bool
    subcategory: str | None
    assist_departments: list[str]
    extension_state: str | None
    extension_requested_days: int | None
    dispatched_at: datetime | None = Field(description="派单时间（派给当前主办单位）")
    sign_due_date: date | None
    return_due_date: date | None
    signed_at: datetime | None
    reply: str | None
    replied_at: datetime | None
    closed_at: datetime | None = Field(description="办结时间")
    reopen_count: int
    application_no: str | None
    timeline: list[TicketStep]
    ratings: list[TicketRatingOut]
    actions: list[ActionOut]
    suggestions: list[SuggestionOut]


class CitizenTicket(BaseModel):
    number: str
    type: str
    state: str
    state_label: str
    content: str
    location: str | None
    anonymous: bool
    department_name: str | None
    deadline: TicketDeadline
    reply: str | None
    replied_at: datetime | None
    can_rate: bool
    can_withdraw: bool
    rating: TicketRatingOut | None
    timeline: list[TicketStep]
    created_at: datetime


def deadline(ticket: Ticket, calendar: WorkingCalendar, today: date) -> TicketDeadline:
    return TicketDeadline(pending=ticket.pending, due_date=ticket.due_date, due_at=ticket.due_at,
                          provisional=ticket.due_provisional, working_days=ticket.time_limit,
                          remaining_working_days=rules.remaining_working_days(calendar, today, ticket.due_date),
                          promise=tickets.promise(ticket, today))


def _department_name(code: str | None) -> str | None:
    return catalogue.departments().get(code) if code else None


def _hides_caller(ticket: Ticket, viewer: Actor) -> bool:
    return viewer.role == "department" and ticket.anonymous


def _contact(ticket: Ticket, viewer: Actor) -> tuple[str | None, str | None]:
    return ("匿名", None) if _hides_caller(ticket, viewer) else (ticket.contact_name, ticket.contact_phone)


def _text(ticket: Ticket, viewer: Actor, text: str | None) -> str | None:
    """Free text as `viewer` may read it: for a department, an anonymous caller's numbers masked."""
    return mask_personal_data(text) if text and _hides_caller(ticket, viewer) else text


def summary(ticket: Ticket, viewer: Actor, calendar: WorkingCalendar, today: date) -> dict:
    name, _ = _contact(ticket, viewer)
    return dict(number=ticket.number, type=ticket.type, category=ticket.category, state=ticket.state,
                state_label=rules.STATES[ticket.state], difficulty=ticket.difficulty,
                lead_department=ticket.lead_department, lead_department_name=_department_name(ticket.lead_department),
                card=ticket.card if ticket.pending else "none", deadline=deadline(ticket, calendar, today).model_dump(mode="json"),
                contact_name=name, preview=_text(ticket, viewer, ticket.content)[:60],
                created_at=ticket.created_at)


def _by(event: TicketEvent, for_citizen: bool) -> str:
    if event.actor_role == "department":
        return _department_name(event.data.get("department_code")) or "承办单位"
    if event.actor_role in ("agent", "supervisor"):
        return "12345热线" if for_citizen else f"12345热线 {event.actor_name}"
    return "本人" if event.actor_role == "citizen" else "系统"


def step(event: TicketEvent, *, for_citizen: bool, note: str | None = None) -> TicketStep:
    """One timeline step; `note` replaces the event's own (masked for the viewer)."""
    data = {} if for_citizen else event.data
    return TicketStep(at=event.at, action=event.action,
                   action_label="登记" if event.action == "register" else rules.ACTIONS[event.action].label,
                   state=event.to_state, state_label=rules.STATES[event.to_state], by=_by(event, for_citizen),
                   note=event.note if note is None else note, data=data)


def rating_out(rating: TicketRating, comment: str | None = None) -> TicketRatingOut:
    """One rating; `comment` replaces its own (masked for the viewer)."""
    return TicketRatingOut(round=rating.round, level=rating.level,
                           comment=rating.comment if comment is None else comment, rated_at=rating.rated_at,
                     reasonable=rating.reasonable)


def detail(ticket: Ticket, viewer: Actor, calendar: WorkingCalendar, today: date, events: list[TicketEvent],
           ratings: list[TicketRating], actions: list[str], suggestions: list) -> dict:
    name, phone = _contact(ticket, viewer)
    return TicketDetail(
        **summary(ticket, viewer, calendar, today), content=_text(ticket, viewer, ticket.content),
        location=ticket.location, latitude=ticket.latitude, longitude=ticket.longitude, channel=ticket.channel,
        contact_phone=phone, anonymous=ticket.anonymous, subcategory=ticket.subcategory,
        assist_departments=ticket.assist_departments, extension_state=ticket.extension_state,
        extension_requested_days=ticket.extension_requested_days, dispatched_at=ticket.dispatched_at,
        sign_due_date=ticket.sign_due_date, return_due_date=ticket.return_due_date, signed_at=ticket.signed_at,
        reply=ticket.reply, replied_at=ticket.replied_at, closed_at=ticket.closed_at, reopen_count=ticket.reopen_count,
        application_no=ticket.application_no,
        timeline=[step(e, for_citizen=False, note=_text(ticket, viewer, e.note)) for e in events],
        ratings=[rating_out(r, _text(ticket, viewer, r.comment)) for r in ratings],
        actions=[ActionOut(name=a, label=rules.ACTIONS[a].label) for a in actions],
        suggestions=[SuggestionOut(category=s.category, department=s.department, department_name=s.department_name,
                                   score=round(s.score, 4)) for s in suggestions],
    ).model_dump(mode="json")


def for_citizen(ticket: Ticket, calendar: WorkingCalendar, today: date, events: list[TicketEvent],
                rating: TicketRating | None, actions: list[str]) -> dict:
    return CitizenTicket(
        number=ticket.number, type=ticket.type, state=ticket.state, state_label=rules.STATES[ticket.state],
        content=ticket.content, location=ticket.location, anonymous=ticket.anonymous,
        department_name=_department_name(ticket.lead_department), deadline=deadline(ticket, calendar, today),
        reply=ticket.reply, replied_at=ticket.replied_at, can_rate="rate" in actions,
        can_withdraw="withdraw" in actions, rating=rating_out(rating) if rating else None,
        timeline=[step(e, for_citizen=True) for e in events], created_at=ticket.created_at,
    ).model_dump(mode="json")
