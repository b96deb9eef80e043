"""One message being answered: the app, the message, the conversation, and the sender as the
service knows them (the real-name binding, looked up once per turn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from aiohttp import web

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
    _person: list = field(default_factory=list)  # [Person | None] once looked up

    @property
    def openid(self) -> str:
        return self.incoming.openid

    @property
    def text(self) -> str:
        return self.incoming.content.strip()

    @property
    def now(self) -> datetime:
        return self.app[keys.CLOCK].now()

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def entities(self) -> Entities:
        """Numbers, phones and dates in the message, as the understanding reads them (any width or case)."""
        return extract(fold(self.text), self.today)[0]

    async def person(self) -> BoundPerson | None:
        """The bound citizen behind this WeChat user, or None. Read at most once a minute per
        conversation: a binding made in the mini-program counts within a minute."""
        if self._person:
            return self._person[0]
        cached, now = self.conversation.person, self.now.timestamp()
        if cached is not None and now - self.conversation.person_read_at < PERSON_FRESH_SECONDS:
            found = BoundPerson(**cached) if cached else None
        else:
            async with transaction(self.app) as session:
                person = await people.bound_person(session, self.openid)
            found = BoundPerson(person.id_number, person.name, person.phone) if person else None
            self.conversation.person = found.__dict__ if found else {}
            self.conversation.person_read_at = now
        self._person.append(found)
        return found
