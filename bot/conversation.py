"""A user's conversation with the bot: which flow and step they are in, what was collected, and
the last lines said (for a handoff's transcript). It is what the dialogue keeps of a user between
messages (`bot.messages`): plain JSON in the state store with a TTL, read and written by the
webhook with the message (`parse`, `dump`), so any server process can take the next message and
an abandoned flow simply expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import orjson

from core.identity import mask_personal_data

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


def parse(stored: str | None) -> Conversation:
    """The stored conversation, or a new one. Fields a release no longer has are dropped (the
    binding was kept here before it moved out of the state store: `bot.turn.Bindings`)."""
    try:
        values = None if stored is None else orjson.loads(stored)
    except orjson.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        return Conversation()
    return Conversation(**{name: value for name, value in values.items() if name in FIELDS})


def dump(conversation: Conversation) -> str:
    # Its fields as they are (no deep copy as dataclasses.asdict makes): they are only serialised.
    return orjson.dumps({name: getattr(conversation, name) for name in FIELDS}).decode()
