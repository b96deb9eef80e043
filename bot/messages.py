"""What the webhook and the dialogue exchange: one incoming message and what the dialogue kept
of its sender, one reply and what to keep now.

The webhook (`bot.webhook`) verifies, decrypts, parses and de-duplicates; the dialogue
(`bot.dialogue.respond`) decides what to say. Neither knows the other's insides: what the
dialogue keeps of a user between messages (its memory: which flow and step, what was collected)
is a string to the webhook, which reads it with its claim on the message and writes it with the
reply, so that a message costs two round trips to the state store, not four.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    """A message or event from a WeChat user to the official account."""

    openid: str  # FromUserName
    account: str  # ToUserName: the official account's id
    msg_type: str  # text, image, voice, video, location, link, event, …
    create_time: int  # Unix seconds, as WeChat stamped it
    content: str = ""  # text messages; a voice message's recognition result when WeChat gives one
    event: str | None = None  # subscribe, unsubscribe, CLICK, VIEW, … (msg_type == "event")
    event_key: str | None = None  # a menu CLICK's key
    msg_id: str | None = None  # MsgId; events have none

    @property
    def dedupe_key(self) -> str:
        """What makes WeChat's retries of one message the same message."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        # Sender + CreateTime as WeChat documents it; with the event and its key, two different
        # menu clicks in the same second stay two messages, while a retry repeats all four.
        return f"event:{self.openid}:{self.create_time}:{self.event or ''}:{self.event_key or ''}"


@dataclass(frozen=True)
class Reply:
    """A passive reply: text, or handing the chat to the customer-service system
    (TransferCustomerService); `text` may be empty when there is nothing to say."""

    text: str = ""
    transfer: bool = False


@dataclass(frozen=True)
class Answer:
    """The dialogue's answer to one message: the reply, and what to keep of the user until their
    next message (None: keep nothing new; what was kept stays until it expires)."""

    reply: Reply
    memory: str | None = None


MEMORY_KEY = "bot:conversation:{openid}"  # the state-store key of what the dialogue keeps of a user
MEMORY_TTL = 30 * 60  # kept this long after the user's last message: a flow left alone for half an hour is forgotten
