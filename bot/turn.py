"""One message being answered: the app, the message, the conversation, and the sender as the
service knows them (the real-name binding, read at most once a minute per conversation)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Conversation
from bot.messages import Incoming
from core import keys
from core.db import transaction
from intents.entities import Entities, extract
from knowledge_base.text import fold
from personal_space import people

PERSON_FRESH_SECONDS = 60


@dataclass(frozen=True)
class BoundPerson:
    """Who a WeChat user is, by their real-name binding."""

    id_number: str
    name: str
    phone: str | None


@dataclass
class Turn:
    app: web.Application
    incoming: Incoming
    conversation: Conversation

    @property
    def openid(self) -> str:
        return self.incoming.openid

    @property
    def text(self) -> str:
        return self.incoming.content.strip()

    @cached_property
    def now(self) -> datetime:
        """The turn's one instant: what it stamps, and how fresh the binding it read is, agree."""
        return self.app[keys.CLOCK].now()

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def entities(self) -> Entities:
        """Numbers, phones and dates in the message, as the understanding reads them (any width or case)."""
        return extract(fold(self.text), self.today)[0]

    async def person(self, session: AsyncSession | None = None) -> BoundPerson | None:
        """The bound citizen behind this WeChat user, or None. The conversation keeps the binding
        for a minute, so it is read at most once a turn and once a minute: a binding made in the
        mini-program counts within a minute. With `session` it is read in the caller's transaction."""
        conversation, now = self.conversation, self.now.timestamp()
        if conversation.person is None or now - conversation.person_read_at >= PERSON_FRESH_SECONDS:
            async with transaction(self.app) if session is None else nullcontext(session) as reading:
                found = await people.bound_person(reading, self.openid)
            conversation.person = {} if found is None else {"id_number": found.id_number, "name": found.name,
                                                            "phone": found.phone}
            conversation.person_read_at = now
        return BoundPerson(**conversation.person) if conversation.person else None
