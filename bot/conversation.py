"""A user's conversation with the bot: which flow and step they are in, what was collected, and
the last lines said (for a handoff's transcript). Plain JSON in the state store with a TTL, so
any server process can take the next message and an abandoned flow simply expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from aiohttp import web

from core import keys
from core.identity import mask_personal_data

KEY = "bot:conversation:{openid}"
TTL = 30 * 60  # a flow left alone for half an hour is forgotten
TRANSCRIPT_LINES = 20


@dataclass
class Conversation:
    flow: str | None = None  # guide, progress, complaint, ticket_status, rating, clarify
    step: str | None = None
    data: dict = field(default_factory=dict)
    transcript: list[dict] = field(default_factory=list)  # {"at", "from": "user" | "bot", "text"}
    handoff: bool = False  # a handoff was opened: messages go to people until it is closed

    def enter(self, flow: str, step: str, **data) -> None:
        self.flow, self.step, self.data = flow, step, dict(data)

    def leave(self) -> None:
        self.flow, self.step, self.data = None, None, {}

    def said(self, who: str, text: str, at: str) -> None:
        """Keep a line, its ID and phone numbers masked (the bot's lines too: a confirmation
        repeats what the user typed)."""
        if text:
            line = {"at": at, "from": who, "text": mask_personal_data(text)}
            self.transcript = (self.transcript + [line])[-TRANSCRIPT_LINES:]


FIELDS = frozenset(f.name for f in fields(Conversation))


async def load(app: web.Application, openid: str) -> Conversation:
    """The stored conversation, or a new one. Fields a release no longer has are dropped (the
    binding was kept here before it moved out of the state store: `bot.turn.Bindings`)."""
    stored = await app[keys.STATE].get_json(KEY.format(openid=openid))
    if not isinstance(stored, dict):
        return Conversation()
    return Conversation(**{name: value for name, value in stored.items() if name in FIELDS})


async def save(app: web.Application, openid: str, conversation: Conversation) -> None:
    # Its fields as they are (no deep copy as dataclasses.asdict makes): they are only serialised.
    await app[keys.STATE].set_json(KEY.format(openid=openid), {name: getattr(conversation, name) for name in FIELDS},
                                   ttl=TTL)
