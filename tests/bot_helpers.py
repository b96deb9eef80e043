"""What the chat-bot tests share: the service behind /wechat, and WeChat's side of the webhook,
either as the raw exchange (`WeChat`) or as one user holding a conversation (`User`)."""

from __future__ import annotations

import itertools

import pytest

from bot.conversation import Conversation, dump, parse
from bot.messages import MEMORY_KEY, MEMORY_TTL
from bot.signing import Credentials, event_message, message_xml, text_message
from core import keys
from server import create_app
from tests.personal_space_helpers import SECRETS

TOKEN = "webhook-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them: safe mode
ACCOUNT = "gh_test_account"
_msg_ids = itertools.count(880000000000000001)


def new_msg_id() -> int:
    """A MsgId no other message of this run has: WeChat's retries repeat one, so the webhook
    answers each MsgId once."""
    return next(_msg_ids)


async def stored_conversation(app, openid: str) -> Conversation:
    """A user's conversation as the state store holds it now (what their next message will find)."""
    return parse(await app[keys.STATE].get(MEMORY_KEY.format(openid=openid)))


async def store_conversation(app, openid: str, conversation: Conversation) -> None:
    await app[keys.STATE].set(MEMORY_KEY.format(openid=openid), dump(conversation), ttl=MEMORY_TTL)


def webhook_app(make_settings, fake_wechat, clock, **overrides):
    """The whole service with the webhook's token, calling the fake WeChat; `overrides` are settings."""
    return create_app(make_settings(**(fake_wechat.settings() | {"wechat_token": TOKEN} | overrides)), clock=clock)


class WeChat:
    """Plays WeChat's side: builds, signs (and in safe mode encrypts) messages, reads replies."""

    def __init__(self, client, credentials: Credentials, clock):
        self.client, self.credentials, self.clock = client, credentials, clock

    @property
    def app(self):
        return self.client.server.app

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def text(self, content: str, openid: str = "openid-webhook", msg_id: int | None = None) -> str:
        return text_message(openid, ACCOUNT, content, msg_id=msg_id or new_msg_id(), create_time=self.now())

    async def post(self, xml: str, *, timestamp: int | None = None, nonce: str = "nonce-1", query: dict | None = None,
                   body: bytes | None = None):
        params, signed_body = self.credentials.sign(xml, timestamp=timestamp or self.now(), nonce=nonce)
        return await self.client.post("/wechat", params=params | (query or {}),
                                      data=signed_body if body is None else body)

    async def exchange(self, xml: str, **kwargs) -> tuple[bytes, dict[str, str] | None]:
        """Post a message; the raw reply and its fields (decrypted in safe mode)."""
        response = await self.post(xml, **kwargs)
        raw = await response.read()
        assert response.status == 200, raw
        return raw, self.credentials.open_reply(raw)


@pytest.fixture
async def plain(aiohttp_client, make_settings, fake_wechat, clock) -> WeChat:
    client = await aiohttp_client(webhook_app(make_settings, fake_wechat, clock))
    return WeChat(client, Credentials(TOKEN), clock)


@pytest.fixture
async def safe(aiohttp_client, make_settings, fake_wechat, clock) -> WeChat:
    client = await aiohttp_client(webhook_app(make_settings, fake_wechat, clock, wechat_aes_key=AES_KEY))
    return WeChat(client, Credentials(TOKEN, AES_KEY, fake_wechat.app_id), clock)


@pytest.fixture(params=["plain", "safe"])
async def bot(request, aiohttp_client, make_settings, clock, fake_wechat):
    """The whole service with the integration clients; WeChat talks to it in plain mode or in
    safe (AES) mode (`bot.credentials`)."""
    safe_mode = {"wechat_aes_key": AES_KEY} if request.param == "safe" else {}
    settings = make_settings(integration_clients=SECRETS, wechat_token=TOKEN, **safe_mode, **fake_wechat.settings())
    client = await aiohttp_client(create_app(settings, clock=clock))
    client.credentials = Credentials.from_settings(settings)
    return client


class User:
    """A WeChat user: every message goes to POST /wechat signed (and in safe mode encrypted) as
    WeChat sends it, and the reply is read back as WeChat would."""

    def __init__(self, client, openid: str):
        self.client, self.openid = client, openid

    async def say(self, text: str, *, msg_type: str = "text", event: str | None = None, key: str | None = None,
                  fields: dict | None = None) -> str:
        now = int(self.client.server.app[keys.CLOCK].now().timestamp())
        if msg_type == "event":
            xml = event_message(self.openid, ACCOUNT, event, create_time=now, event_key=key)
        elif msg_type == "text":
            xml = text_message(self.openid, ACCOUNT, text, msg_id=new_msg_id(), create_time=now)
        else:
            xml = message_xml({"ToUserName": ACCOUNT, "FromUserName": self.openid, "CreateTime": now,
                               "MsgType": msg_type, "MsgId": new_msg_id(), **(fields or {})})
        query, body = self.client.credentials.sign(xml, timestamp=now, openid=self.openid)
        response = await self.client.post("/wechat", params=query, data=body)
        assert response.status == 200, await response.text()
        reply = self.client.credentials.open_reply(await response.read())
        if reply is None:
            return ""
        return "[transfer]" if reply["MsgType"] == "transfer_customer_service" else reply["Content"]
