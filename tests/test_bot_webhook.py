"""The /wechat webhook as WeChat drives it, in plain and safe mode, against PostgreSQL, Redis,
the real dialogue and the fake WeChat server: verification, refusals, retries, the 5-second
budget."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select, text

from bot import webhook
from bot.chat import Chat
from bot.messages import Answer, Incoming, Reply
from bot.signing import DEV_TOKEN, Credentials, event_message, message_xml, parse_xml, signature, webhook_token
from core import keys, outbox
from core.db import create_engine, transaction
from core.outbox import OutboxMessage
from core.settings import load_settings
from hotline.models import Handoff
from tests.bot_helpers import (  # noqa: F401 - plain and safe are fixtures
    ACCOUNT, TOKEN, WeChat, new_msg_id, plain, safe, stored_conversation, webhook_app,
)
from tests.row_counts import count_rows, snapshot


@pytest.fixture(params=["plain", "safe"])
def wechat(request) -> WeChat:
    """Each test with it runs in both modes."""
    return request.getfixturevalue(request.param)


# ── verification and the round trip ──

async def test_get_answers_the_server_verification_in_both_modes(wechat):
    ts, nonce = str(wechat.now()), "n0nce"
    good = {"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "echo-42"}
    response = await wechat.client.get("/wechat", params=good)
    assert response.status == 200 and await response.text() == "echo-42"
    forged = await wechat.client.get("/wechat", params=good | {"signature": "0" * 40})
    assert forged.status == 403 and (await forged.json())["error"]["code"] == "wechat_signature_invalid"
    stale = str(wechat.now() - 301)
    old = await wechat.client.get("/wechat",
                                  params=good | {"timestamp": stale, "signature": signature(TOKEN, stale, nonce)})
    assert old.status == 403


async def test_a_text_message_gets_the_dialogues_text_reply_in_both_modes(wechat):
    raw, reply = await wechat.exchange(wechat.text("你能做什么"))
    assert reply["MsgType"] == "text" and "办事指南" in reply["Content"]
    assert reply["ToUserName"] == "openid-webhook" and reply["FromUserName"] == ACCOUNT
    assert (b"<Encrypt>" in raw) == wechat.credentials.safe_mode  # safe mode answers in the envelope
    _, welcome = await wechat.exchange(event_message("openid-webhook", ACCOUNT, "subscribe", create_time=wechat.now()))
    assert "欢迎使用" in welcome["Content"]


@pytest.mark.parametrize("msg_type, extra", [
    ("image", {"PicUrl": "http://mmbiz.qpic.cn/x.jpg", "MediaId": "m1"}),
    ("voice", {"MediaId": "m2", "Format": "amr"}),  # no Recognition: speech recognition off
    ("video", {"MediaId": "m3", "ThumbMediaId": "t3"}),
    ("location", {"Location_X": "30.39", "Location_Y": "114.89", "Scale": "15", "Label": "鄂州市"}),
    ("link", {"Title": "标题", "Description": "描述", "Url": "http://example.com/"}),
    ("miniprogrampage", {"Title": "小程序"}),
])
async def test_other_message_types_get_a_helpful_text(plain, msg_type, extra):
    xml = message_xml({"ToUserName": ACCOUNT, "FromUserName": "openid-media", "CreateTime": plain.now(),
                       "MsgType": msg_type, **extra, "MsgId": new_msg_id()})
    _, reply = await plain.exchange(xml)
    assert reply["MsgType"] == "text" and len(reply["Content"]) > 5


def test_a_voice_message_carries_wechats_recognition_as_content():
    fields = {"ToUserName": ACCOUNT, "FromUserName": "openid-voice", "CreateTime": "1795000000", "MsgType": "voice",
              "MediaId": "m", "Format": "amr", "Recognition": "你能做什么", "MsgId": "42"}
    assert webhook.incoming_from(fields) == Incoming(openid="openid-voice", account=ACCOUNT, msg_type="voice",
                                                     create_time=1795000000, content="你能做什么", msg_id="42")


async def test_without_a_dialogue_or_when_it_fails_the_user_gets_a_friendly_text(aiohttp_client, make_settings,
                                                                               fake_wechat, clock):
    app = webhook_app(make_settings, fake_wechat, clock)
    del app[keys.BOT_RESPOND]
    none = WeChat(await aiohttp_client(app), Credentials(TOKEN), clock)
    _, reply = await none.exchange(none.text("你好"))
    assert reply["Content"] == webhook.UNAVAILABLE_TEXT

    async def broken(app, incoming: Incoming, memory: str | None) -> Answer:  # stands for any bug in a flow
        raise RuntimeError("flow bug")

    app = webhook_app(make_settings, fake_wechat, clock)
    app[keys.BOT_RESPOND] = broken
    failing = WeChat(await aiohttp_client(app), Credentials(TOKEN), clock)
    _, reply = await failing.exchange(failing.text("你好"))
    assert reply["Content"] == webhook.FAILURE_TEXT


async def test_nothing_is_served_without_a_token_in_production(aiohttp_client, make_settings, fake_wechat, clock):
    app = webhook_app(make_settings, fake_wechat, clock, wechat_token=None)
    client = await aiohttp_client(app)
    ts = str(int(clock.now().timestamp()))
    params = {"signature": signature(DEV_TOKEN, ts, "n"), "timestamp": ts, "nonce": "n", "echostr": "x"}
    get = await client.get("/wechat", params=params)
    post = await client.post("/wechat", params=params, data=b"<xml/>")
    assert get.status == post.status == 503
    assert (await post.json())["error"]["code"] == "wechat_not_configured"


def test_the_embedded_default_has_a_development_token_and_nothing_else_does(tmp_path):
    embedded = load_settings(database_url=f"sqlite:///{tmp_path}/db.sqlite")
    assert webhook_token(embedded) == DEV_TOKEN
    assert webhook_token(load_settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", wechat_app_id="wx1")) is None
    assert webhook_token(load_settings(database_url="postgresql://u@h/db")) is None
    assert webhook_token(load_settings(database_url="postgresql://u@h/db", wechat_token="tok")) == "tok"


def test_reply_text_survives_any_characters():
    incoming = Incoming(openid="o", account=ACCOUNT, msg_type="text", create_time=1, content="x", msg_id="1")
    tricky = "a]]>b<c>&d\x01e]]]]>"
    fields = parse_xml(webhook.render(Reply(text=tricky), incoming, 7).encode())
    assert fields["Content"] == tricky.replace("\x01", "") and fields["CreateTime"] == "7"
    assert webhook.render(Reply(), incoming, 7) == "success"


async def test_with_the_state_store_down_the_user_still_gets_a_friendly_text(aiohttp_client, make_settings,
                                                                          fake_wechat, clock):
    app = webhook_app(make_settings, fake_wechat, clock, redis_url="redis://127.0.0.1:1/0")
    down = WeChat(await aiohttp_client(app), Credentials(TOKEN), clock)
    started = time.perf_counter()
    _, reply = await down.exchange(down.text("转人工", openid="openid-down"))
    assert reply["Content"] == webhook.FAILURE_TEXT and time.perf_counter() - started < 5.0
    assert await count_rows(app, Handoff) == 0  # without dedupe nothing is done


async def test_the_terminal_chat_talks_through_the_real_webhook(wechat):
    lines = ["你能做什么", "/subscribe", "/menu MENU_HELP", "/help", "转人工"]

    async def typed():
        for line in lines:
            yield line

    said: list[str] = []
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, str(wechat.client.make_url("/")), wechat.credentials, "openid-terminal",
                    clock=lambda: wechat.clock.now().timestamp())
        await chat.run(typed(), said.append)
    assert "办事指南" in said[0] and "欢迎使用" in said[1] and "办事指南" in said[2]
    assert "/menu" in said[3] and "转接人工" in said[4]


# ── bad input: refused quickly, nothing read or written ──

BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
        + ']><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>'
          '<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>')
XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>'
       '<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>')


async def _chunks(data: bytes):
    for start in range(0, len(data), 8192):
        yield data[start:start + 8192]


def _bad_requests(now: int) -> dict[str, dict]:
    """Each bad request, as changes to a correctly signed one (`WeChat.post` keywords)."""
    return {
        "forged signature": {"query": {"signature": signature("guessed-token", str(now), "nonce-1")}},
        "stale timestamp": {"timestamp": now - 301},
        "future timestamp": {"timestamp": now + 301},
        "malformed XML": {"body": b"<xml><ToUserName>a</ToUserName><Content>unclosed</xml>"},
        "XML bomb": {"body": BOMB.encode()},
        "external entity": {"body": XXE.encode()},
        "oversized body": {"body": io.BytesIO(b"<xml>" + b"x" * (4 * 1024 * 1024) + b"</xml>")},
        "oversized chunked body": {"body": _chunks(b"<xml>" + b"x" * (webhook.BODY_LIMIT + 10) + b"</xml>")},
        "not a message": {"body": b"<xml><Content>hello</Content></xml>"},
    }


# case → (status, code) in plain mode, in safe mode: in safe mode a body without a valid Encrypt
# fails msg_signature (403) once it parses at all.
FORGED, STALE = (403, "wechat_signature_invalid"), (403, "wechat_timestamp_out_of_window")
INVALID, FORBIDDEN = (400, "wechat_message_invalid"), (400, "wechat_xml_forbidden")
TOO_LARGE = (413, "payload_too_large")
REFUSED = {"forged signature": (FORGED, FORGED), "stale timestamp": (STALE, STALE), "future timestamp": (STALE, STALE),
           "malformed XML": (INVALID, INVALID), "XML bomb": (FORBIDDEN, FORBIDDEN),
           "external entity": (FORBIDDEN, FORBIDDEN), "oversized body": (TOO_LARGE, TOO_LARGE),
           "oversized chunked body": (TOO_LARGE, TOO_LARGE), "not a message": (INVALID, FORGED)}


async def _refused_without_a_trace(wechat: WeChat, redis_url: str, refusal: tuple[int, str], **changes) -> None:
    before = await snapshot(wechat.app, redis_url)
    started = time.perf_counter()
    response = await wechat.post(wechat.text("转人工", openid="openid-attacker"), **changes)
    assert (response.status, (await response.json())["error"]["code"]) == refusal
    assert time.perf_counter() - started < 1.0
    assert await snapshot(wechat.app, redis_url) == before


@pytest.mark.parametrize("case", list(REFUSED))
async def test_bad_input_is_refused_quickly_without_touching_state(wechat, redis_url, case):
    refusal = REFUSED[case][wechat.credentials.safe_mode]
    await _refused_without_a_trace(wechat, redis_url, refusal, **_bad_requests(wechat.now())[case])


async def test_safe_mode_refuses_a_forged_msg_signature_an_encrypted_bomb_and_plain_messages(safe, redis_url):
    await _refused_without_a_trace(safe, redis_url, FORGED, query={"msg_signature": "0" * 40})
    plain_xml = safe.text("转人工", openid="openid-attacker").encode()  # correctly signed, not encrypted
    await _refused_without_a_trace(safe, redis_url, FORGED, body=plain_xml,
                                   query={"encrypt_type": "", "msg_signature": ""})
    before = await snapshot(safe.app, redis_url)
    response = await safe.post(BOMB)  # signed and encrypted correctly: the DTD is inside
    assert response.status == 400 and (await response.json())["error"]["code"] == "wechat_xml_forbidden"
    assert await snapshot(safe.app, redis_url) == before


# ── retries and duplicates ──

async def test_the_same_message_three_times_in_a_row_has_one_effect_and_one_reply(wechat):
    xml = wechat.text("转人工", openid="openid-retry")
    replies = [await wechat.exchange(xml, nonce="same-nonce") for _ in range(3)]
    assert replies[0][1]["MsgType"] == "transfer_customer_service"
    assert replies[0][0] == replies[1][0] == replies[2][0]  # byte for byte, even encrypted
    assert await _user_lines(wechat.app) == ["转人工"]  # not relayed into the open handoff again


async def test_the_same_message_three_times_at_once_has_one_effect_and_one_reply(wechat):
    xml = wechat.text("转人工", openid="openid-concurrent")
    replies = await asyncio.gather(*(wechat.exchange(xml, nonce="same-nonce") for _ in range(3)))
    assert replies[0][1]["MsgType"] == "transfer_customer_service"
    assert replies[0][0] == replies[1][0] == replies[2][0]
    assert await _user_lines(wechat.app) == ["转人工"]


async def _user_lines(app) -> list[str]:
    """What the user said, as the one handoff's transcript holds it."""
    async with transaction(app) as session:
        [handoff] = (await session.scalars(select(Handoff))).all()
    return [line["text"] for line in handoff.transcript if line["from"] == "user"]


async def test_events_are_deduplicated_by_sender_and_create_time(plain):
    subscribe = event_message("openid-event", ACCOUNT, "subscribe", create_time=plain.now())
    first, again = await plain.exchange(subscribe), await plain.exchange(subscribe)
    assert first[0] == again[0] and "欢迎使用" in first[1]["Content"]
    said = (await stored_conversation(plain.app, "openid-event")).transcript
    assert [line["text"] for line in said if line["from"] == "user"] == ["[subscribe]"]  # answered once
    plain.clock.advance(timedelta(seconds=1))
    later = await plain.exchange(event_message("openid-event", ACCOUNT, "subscribe", create_time=plain.now()))
    assert later[0] != first[0]  # a new event (another CreateTime) is answered anew


async def test_a_new_msgid_is_a_new_message_even_with_the_same_text(plain):
    await plain.exchange(plain.text("转人工", openid="openid-twice"))
    async with transaction(plain.app) as session:
        before = len((await session.scalar(select(Handoff))).transcript)
    await plain.exchange(plain.text("转人工", openid="openid-twice"))  # the user asks again: another MsgId
    async with transaction(plain.app) as session:
        handoffs = list(await session.scalars(select(Handoff)))
    assert len(handoffs) == 1 and len(handoffs[0].transcript) == before + 1  # relayed to the open handoff


# ── the 5-second budget ──

async def _hold_lock(database_url: str, table: str, seconds: float, locked: asyncio.Event) -> None:
    """A real slow backend: another connection holds an exclusive lock on `table`."""
    engine = create_engine(load_settings(database_url=database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            await asyncio.sleep(seconds)
    finally:
        await engine.dispose()


async def test_a_slow_backend_gets_a_holding_reply_in_time_and_the_answer_by_customer_service_message(
        wechat, database_url, fake_wechat):
    locked = asyncio.Event()
    holder = asyncio.create_task(_hold_lock(database_url, "applications", 6.0, locked))
    await locked.wait()
    xml = wechat.text("查询办件SX20261105000123", openid="openid-slow")

    async def retried_after(delay: float) -> tuple[bytes, float]:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        raw, _ = await wechat.exchange(xml)
        return raw, time.perf_counter() - started

    # The first request, and a retry that arrives while it is still running.
    (first, elapsed), (retry, _) = await asyncio.gather(retried_after(0), retried_after(1.0))
    assert webhook.BUDGET_SECONDS - 0.1 <= elapsed < 5.0
    assert wechat.credentials.open_reply(first)["Content"] == webhook.HOLDING_TEXT
    late, late_elapsed = await retried_after(0)  # one after the first answered: at once
    assert first == retry == late and late_elapsed < 1.0
    await holder
    app = wechat.app
    for _ in range(100):  # the dialogue finishes once the lock is gone; its answer is queued
        if await count_rows(app, OutboxMessage):
            break
        await asyncio.sleep(0.05)
    assert await outbox.run_once(app) == 1
    assert len(fake_wechat.custom_messages) == 1
    message = fake_wechat.custom_messages[0]
    assert message["touser"] == "openid-slow" and "查询密码" in message["text"]["content"]
    assert await outbox.run_once(app) == 0  # once
    # The conversation moved on with the late answer: the next message is taken as the password.
    stored = await stored_conversation(app, "openid-slow")
    assert (stored.flow, stored.step, stored.data["number"]) == ("progress", "password", "SX20261105000123")


async def test_a_message_sent_while_the_previous_one_is_answered_is_read_in_the_conversation_that_one_leaves(
        wechat, database_url):
    """The second message was claimed (and the conversation read) while the first was still
    looking up the application: it waits for the first's conversation, so "123456" is taken as
    the query password the first asked for, not as a new request."""
    locked = asyncio.Event()
    holder = asyncio.create_task(_hold_lock(database_url, "applications", 1.5, locked))
    await locked.wait()
    lookup = asyncio.create_task(wechat.exchange(wechat.text("查询办件SX20261105000123", openid="openid-quick")))
    await asyncio.sleep(0.5)  # the lookup is waiting for the table
    _, password_reply = await wechat.exchange(wechat.text("123456", openid="openid-quick"))
    _, lookup_reply = await lookup
    await holder
    assert "查询密码" in lookup_reply["Content"]
    assert password_reply["Content"].startswith("办件编号或查询密码不正确，请重新输入查询密码")


async def test_turns_past_the_concurrency_limit_wait_and_still_answer_within_the_budget(
        aiohttp_client, make_settings, fake_wechat, clock, database_url):
    """With one turn at a time, a greeting queued behind a turn stuck on the database gets the
    holding reply in time, and its answer follows once the gate opens."""
    client = await aiohttp_client(webhook_app(make_settings, fake_wechat, clock, bot_concurrency=1))
    chat = WeChat(client, Credentials(TOKEN), clock)
    locked = asyncio.Event()
    holder = asyncio.create_task(_hold_lock(database_url, "applications", 6.0, locked))
    await locked.wait()

    async def send(content: str, openid: str, delay: float) -> tuple[str, float]:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        raw, _ = await chat.exchange(chat.text(content, openid=openid))
        return chat.credentials.open_reply(raw)["Content"], time.perf_counter() - started

    (stuck, _), (greeting, waited) = await asyncio.gather(send("查询办件SX20261105000123", "openid-stuck", 0),
                                                          send("你好", "openid-queued", 0.5))
    assert stuck == greeting == webhook.HOLDING_TEXT
    assert webhook.BUDGET_SECONDS - 0.1 <= waited < 5.0
    await holder
    for _ in range(100):
        if await count_rows(chat.app, OutboxMessage) == 2:
            break
        await asyncio.sleep(0.05)
    assert await outbox.run_once(chat.app) == 2
    texts = {m["touser"]: m["text"]["content"] for m in fake_wechat.custom_messages}
    assert texts["openid-queued"].startswith("您好") and "查询密码" in texts["openid-stuck"]
