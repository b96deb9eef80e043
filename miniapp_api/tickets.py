"""12345 tickets for the mini-program: file one, mine, one of mine, add information, rate, withdraw.

Filing needs the real-name binding: the contact is taken from it (a different phone may be
given), and `anonymous` hides name and phone from the department, not from the hotline.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r404, r409
from pydantic import BaseModel, Field

from core import ratings
from core.api import ErrorBody, api
from core.auth import current_session
from core.db import transaction
from core.web import json_response
from hotline import rules, tickets, views
from hotline.models import Ticket
from hotline.service import context
from hotline.tickets import Actor, NewTicket
from personal_space import people


class TicketIn(BaseModel):
    type: rules.TicketType = "投诉"
    content: str = Field(min_length=1, max_length=4000, description="诉求内容")
    location: str | None = Field(default=None, max_length=200, description="事发地点")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    anonymous: bool = Field(default=False, description="对承办单位隐藏姓名和电话（热线仍可见，以便回访）")
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$", description="联系电话；不填则用实名绑定的手机号")

    model_config = {"extra": "forbid"}


async def _citizen(request: web.Request, db) -> Actor:
    session = await current_session(request)
    person = await people.require_person(db, session.openid)
    return Actor("citizen", person.id_number, person.name)


async def _out(db, ticket: Ticket, actor: Actor, app: web.Application) -> dict:
    return (await citizen_views(db, [ticket], actor, app))[0]


async def citizen_views(db, found: list[Ticket], actor: Actor, app: web.Application) -> list[dict]:
    """The citizen's view of each ticket: their timelines and ratings read in two queries."""
    ctx = context(app)
    events = await tickets.timelines(db, [t.number for t in found], public_only=True)
    rated = await tickets.current_ratings(db, found)
    return [views.for_citizen(t, ctx.calendar, ctx.today, events[t.number], rated.get(t.number),
                              tickets.allowed_actions(actor, t, rated.get(t.number))) for t in found]


@api
async def file_ticket(request: web.Request, body: TicketIn
                      ) -> r201[views.CitizenTicket] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody]:
    """File a 12345 complaint, request, report or suggestion; answered within 5 working days (15 for difficult ones)."""
    app = request.app
    async with transaction(app) as db:
        actor = await _citizen(request, db)
        person = await people.person(db, actor.id)
        new = NewTicket(type=body.type, content=body.content, channel="miniapp", citizen_id=actor.id,
                        contact_name=person.name, contact_phone=body.phone or person.phone, anonymous=body.anonymous,
                        location=body.location, latitude=body.latitude, longitude=body.longitude)
        ticket = await tickets.register(db, new, actor, context(app))
        return json_response(await _out(db, ticket, actor, app), status=201)


@api
async def my_tickets(request: web.Request) -> r200[list[views.CitizenTicket]] | r401[ErrorBody] | r404[ErrorBody]:
    """My tickets, newest first."""
    app = request.app
    async with transaction(app) as db:
        actor = await _citizen(request, db)
        return json_response(await citizen_views(db, await tickets.citizen_tickets(db, actor.id), actor, app))


@api
async def get_ticket(request: web.Request, number: str, /) -> r200[views.CitizenTicket] | r401[ErrorBody] | r404[ErrorBody]:
    """One of my tickets, with its timeline and deadline."""
    app = request.app
    async with transaction(app) as db:
        actor = await _citizen(request, db)
        ticket = await tickets.get_ticket(db, number, actor)
        return json_response(await _out(db, ticket, actor, app))


async def _act(request: web.Request, number: str, action: str, payload: dict) -> web.Response:
    app = request.app
    async with transaction(app) as db:
        actor = await _citizen(request, db)
        ticket = await tickets.get_ticket(db, number, actor, for_update=True)
        await tickets.perform(db, ticket, actor, action, payload, context(app))
        return json_response(await _out(db, ticket, actor, app))


class TicketRatingIn(BaseModel):
    level: ratings.Level
    comment: str | None = Field(default=None, max_length=1000, description="不满意、非常不满意时必填")

    model_config = {"extra": "forbid"}


@api
async def rate_ticket(request: web.Request, number: str, /, body: TicketRatingIn
                      ) -> r200[views.CitizenTicket] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody] | r409[ErrorBody]:
    """好差评 of the answer, once per answer; a bad rating goes back to the hotline for review."""
    return await _act(request, number, "rate", {"level": body.level, "note": body.comment})


class NoteIn(BaseModel):
    text: str | None = Field(default=None, max_length=4000)

    model_config = {"extra": "forbid"}


@api
async def withdraw_ticket(request: web.Request, number: str, /, body: NoteIn
                          ) -> r200[views.CitizenTicket] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody] | r409[ErrorBody]:
    """Withdraw my ticket before it is answered (text: the reason, optional)."""
    return await _act(request, number, "withdraw", {"note": body.text})


@api
async def add_information(request: web.Request, number: str, /, body: NoteIn
                          ) -> r200[views.CitizenTicket] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody] | r409[ErrorBody]:
    """Add information to my ticket while it is being handled."""
    return await _act(request, number, "supplement", {"note": body.text})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/tickets", file_ticket)
    app.router.add_get("/api/v1/me/tickets", my_tickets, allow_head=False)
    app.router.add_get("/api/v1/tickets/{number}", get_ticket, allow_head=False)
    app.router.add_post("/api/v1/tickets/{number}/rating", rate_ticket)
    app.router.add_post("/api/v1/tickets/{number}/withdraw", withdraw_ticket)
    app.router.add_post("/api/v1/tickets/{number}/supplements", add_information)
