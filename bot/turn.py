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
from personal_space import people
from personal_space.models import Person


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

    async def person(self) -> Person | None:
        """The bound citizen behind this WeChat user, or None."""
        if not self._person:
            async with transaction(self.app) as session:
                self._person.append(await people.bound_person(session, self.openid))
        return self._person[0]
