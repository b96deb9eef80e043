"""One message being answered: the app, the message, the conversation, and the sender as the
service knows them (the real-name binding, read at most once a minute per user and process)."""

from __future__ import annotations

from collections import OrderedDict
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
BINDINGS_KEPT = 10_000  # users whose binding a process keeps; the least recently read go first


@dataclass(frozen=True)
class BoundPerson:
    """Who a WeChat user is, by their real-name binding."""

    id_number: str
    name: str
    phone: str | None


class Bindings:
    """The real-name bindings this process read lately: openid → (when, the person or None),
    each for PERSON_FRESH_SECONDS. In memory, not in the shared state store, so that the binding
    (ID number, name, phone) is never written there; a binding made or undone in the mini-program
    counts within that time in every process, and at once in the one that undid it (`forget`)."""

    def __init__(self, kept: int = BINDINGS_KEPT):
        self._kept, self._read = kept, OrderedDict[str, tuple[float, BoundPerson | None]]()

    def get(self, openid: str, now: float) -> tuple[bool, BoundPerson | None]:
        """(fresh, person): `fresh` is False when the binding must be read again."""
        read_at, person = self._read.get(openid, (float("-inf"), None))
        return now - read_at < PERSON_FRESH_SECONDS, person

    def forget(self, openid: str) -> None:
        """Read this user's binding again next time (it was just undone)."""
        self._read.pop(openid, None)

    def put(self, openid: str, now: float, person: BoundPerson | None) -> None:
        self._read[openid] = (now, person)
        self._read.move_to_end(openid)
        while len(self._read) > self._kept:
            self._read.popitem(last=False)


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
        """The bound citizen behind this WeChat user, or None: read at most once a turn and once a
        minute (`Bindings`). With `session` it is read in the caller's transaction."""
        bindings, now = self.app[keys.BOT_BINDINGS], self.now.timestamp()
        fresh, person = bindings.get(self.openid, now)
        if not fresh:
            async with transaction(self.app) if session is None else nullcontext(session) as reading:
                found = await people.bound_person(reading, self.openid)
            person = None if found is None else BoundPerson(found.id_number, found.name, found.phone)
            bindings.put(self.openid, now, person)
        return person
