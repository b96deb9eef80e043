"""`GET/POST /wechat`: the official account's webhook (公众号消息接口).

A request is checked before anything is read or written: the query signature (constant-time),
the timestamp within `TIMESTAMP_WINDOW` of the service clock, the body size, the XML (no DTD, so
no entity bombs and no external entities) and, in safe mode, `msg_signature` over the encrypted
body. A refusal is logged with the request id and touches neither the state store nor the
database.

Nonces are not refused when seen again: WeChat retries a message it got no answer to within 5
seconds (up to three times, sometimes while the first request is still running) with the same
timestamp and nonce. Retries are recognised by message instead (`Incoming.dedupe_key`): the first
request claims the key in the state store and stores the rendered reply; a retry returns that
reply byte for byte, or waits for it while the first is still running. The claim also reads what
the dialogue keeps of the sender, and the reply is stored with what it keeps now (one round trip
each: `bot.messages`). In plain mode WeChat's
signature covers only the query string, never the body; safe mode is what authenticates the body.

The reply always leaves within the budget: the dialogue runs as a task for at most
`BUDGET_SECONDS` from the request's arrival; past that the user gets `HOLDING_TEXT` (which the
retries get too) and, when the dialogue finishes, its answer goes to the outbox as a
customer-service message (客服消息), delivered by the outbox workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.messages import MEMORY_KEY, MEMORY_TTL, Answer, Incoming, Reply
from bot.signing import Credentials, NotConfigured, XmlForbidden, XmlInvalid, message_xml, parse_xml
from core import keys, outbox
from core.db import transaction
from core.errors import AppError, ServiceUnavailable

log = logging.getLogger("bot.webhook")

PATH = "/wechat"
BODY_LIMIT = 64 * 1024  # WeChat's messages are a few hundred bytes
TIMESTAMP_WINDOW = 300  # seconds either side of the service clock
BUDGET_SECONDS = 4.0  # the dialogue's time from the request's arrival; WeChat gives up at 5 s
WAIT_SECONDS = 4.5  # a retry's wait for the first request's reply (that one stores it by ~4.0 s)
STORE_SECONDS = 4.7  # storing the reply for retries must not hold the answer past this
POLL_SECONDS = 0.05
# WeChat's retries come within ~15 s, but a captured request stays acceptable for as long as its
# timestamp is in the window (up to 2 × TIMESTAMP_WINDOW after its arrival when WeChat's clock is
# ahead of ours): the mark must outlive that, or a replay would be answered anew.
DEDUPE_TTL = 2 * TIMESTAMP_WINDOW + 60
SHUTDOWN_GRACE = 5.0  # a slow dialogue still running at shutdown gets this long to finish
DEDUPE_KEY = "bot:reply:{account}:{key}"  # state-store key: PENDING, or READY + the rendered reply
PENDING, READY = "pending", "reply:"
MAX_ECHOSTR, MAX_NONCE, MAX_ID = 128, 64, 64

HOLDING_TEXT = "正在为您查询，请稍候，结果稍后发给您。"
FAILURE_TEXT = "抱歉，系统暂时繁忙，请稍后再试；也可以回复“转人工”联系人工客服。"
UNAVAILABLE_TEXT = "您好，智能客服正在升级，暂时无法回复，请稍后再试。"


class WebhookNotConfigured(ServiceUnavailable):
    code = "wechat_not_configured"
    message = "微信消息接口未配置"


class SignatureInvalid(AppError):
    status = 403
    code = "wechat_signature_invalid"
    message = "微信签名校验失败"


class TimestampOutOfWindow(AppError):
    status = 403
    code = "wechat_timestamp_out_of_window"
    message = "请求时间戳与服务器时间相差超过5分钟"


class BodyTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    message = "请求内容过大"


class MessageInvalid(AppError):
    status = 400
    code = "wechat_message_invalid"
    message = "无法解析的微信消息"


class MessageForbidden(AppError):
    status = 400
    code = "wechat_xml_forbidden"
    message = "消息中不允许出现 DTD 或实体声明"


def setup(app: web.Application) -> None:
    """Serve `GET/POST /wechat`; add after the state store and database contexts."""
    webhook = Webhook(app)
    app.router.add_get(PATH, webhook.verify, allow_head=False)
    app.router.add_post(PATH, webhook.receive)
    app.cleanup_ctx.append(webhook.context)


def _refused(error: AppError, reason: str) -> AppError:
    log.warning("wechat request refused", extra={"code": error.code, "reason": reason})
    return error


async def _read_body(request: web.Request) -> bytes:
    """The body, refused at once when its announced length passes BODY_LIMIT, else as soon as
    what has arrived does: aiohttp's own limit (client_max_size), set for this request only, since
    the app's limit (MAX_BODY_BYTES) is one for every route."""
    if request.content_length is not None and request.content_length > BODY_LIMIT:
        raise _refused(BodyTooLarge(), f"content-length {request.content_length}")
    try:
        return await request.clone(client_max_size=BODY_LIMIT).read()
    except web.HTTPRequestEntityTooLarge:
        raise _refused(BodyTooLarge(), f"more than {BODY_LIMIT} bytes") from None


def _fields(body: bytes) -> dict[str, str]:
    try:
        return parse_xml(body)
    except XmlForbidden as exc:
        raise _refused(MessageForbidden(), str(exc)) from None
    except XmlInvalid as exc:
        raise _refused(MessageInvalid(), str(exc)) from None


def incoming_from(fields: dict[str, str]) -> Incoming:
    """The message WeChat's fields describe; MessageInvalid when a required one is missing."""
    openid, account = fields.get("FromUserName", ""), fields.get("ToUserName", "")
    msg_type, create_time = fields.get("MsgType", "").strip(), fields.get("CreateTime", "").strip()
    msg_id = fields.get("MsgId", "").strip() or None
    if not (openid and account and msg_type and create_time.isdigit()) or len(create_time) > 12 \
            or max(len(openid), len(account), len(msg_type), len(msg_id or ""), len(fields.get("Event", ""))) > MAX_ID:
        raise _refused(MessageInvalid(), "missing or malformed ToUserName/FromUserName/MsgType/CreateTime/MsgId")
    content = fields.get("Content", "") if msg_type == "text" else ""
    if msg_type == "voice":  # WeChat's speech recognition, when the account has it on
        content = fields.get("Recognition", "")
    if msg_type == "location":  # the place a user picked on WeChat's map: its name, then latitude and longitude
        place = (fields.get("Label", "").strip()[:150], fields.get("Location_X", "").strip()[:20],
                 fields.get("Location_Y", "").strip()[:20])
        content = place[0] + (f"（{place[1]},{place[2]}）" if place[1] and place[2] else "")
    is_event = msg_type == "event"
    return Incoming(openid=openid, account=account, msg_type=msg_type, create_time=int(create_time),
                    content=content, event=fields.get("Event") if is_event else None,
                    event_key=fields.get("EventKey") if is_event else None,
                    msg_id=None if is_event else msg_id)


def render(reply: Reply, incoming: Incoming, now: int) -> str:
    """The passive reply's XML: text, transfer to customer service, or "success" (nothing to say).
    A transfer carries no text (WeChat's TransferCustomerService has none)."""
    head: dict[str, str | int] = {"ToUserName": incoming.openid, "FromUserName": incoming.account, "CreateTime": now}
    if reply.transfer:
        return message_xml(head | {"MsgType": "transfer_customer_service"})
    if reply.text:
        return message_xml(head | {"MsgType": "text", "Content": reply.text})
    return "success"


async def _within(awaitable: Awaitable, deadline: float):
    """Await, cancelled with TimeoutError at the monotonic `deadline` (a slow state store must
    not hold the reply past WeChat's 5 seconds)."""
    async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
        return await awaitable


@dataclass
class _Turn:
    """One message being answered, in the order of its sender's messages in this process.

    A message that comes in while an earlier one of the same user is still being answered was
    claimed with the conversation as it stood, which the earlier one may yet move on: its
    dialogue waits until the earlier turn's conversation is stored (`earlier` done), then reads
    it again. `done` is this turn's, set once its own is stored (or will not be)."""

    openid: str
    earlier: asyncio.Future | None
    done: asyncio.Future
    deferred: bool = False  # handed to a follow-up, which ends it


class _Turns:
    def __init__(self) -> None:
        self._latest: dict[str, asyncio.Future] = {}  # openid → its latest turn's `done`

    def begin(self, openid: str) -> _Turn:
        turn = _Turn(openid, self._latest.get(openid), asyncio.get_running_loop().create_future())
        self._latest[openid] = turn.done
        return turn

    def end(self, turn: _Turn) -> None:
        if not turn.done.done():
            turn.done.set_result(None)
        if self._latest.get(turn.openid) is turn.done:
            del self._latest[turn.openid]


class Webhook:
    """The two handlers, the turns and follow-ups still running, and the credentials they check with."""

    def __init__(self, app: web.Application):
        try:
            self.credentials: Credentials | None = Credentials.from_settings(app[keys.SETTINGS])
            self.problem = ""
        except NotConfigured as exc:
            self.credentials, self.problem = None, str(exc)
        self._follow_ups: set[asyncio.Task] = set()
        self._turns = _Turns()

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: at shutdown, slow dialogues get SHUTDOWN_GRACE to finish, then are cancelled."""
        if self.credentials is None:
            log.warning("wechat webhook refuses every request", extra={"reason": self.problem})
        yield
        if self._follow_ups:
            await asyncio.wait(self._follow_ups, timeout=SHUTDOWN_GRACE)
        for task in list(self._follow_ups):
            task.cancel()
        await asyncio.gather(*self._follow_ups, return_exceptions=True)

    def _check(self, request: web.Request) -> tuple[Credentials, str, str]:
        """The credentials, timestamp and nonce of a correctly signed, timely request."""
        if self.credentials is None:
            raise _refused(WebhookNotConfigured(self.problem), "not configured")
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not (timestamp.isdigit() and len(timestamp) <= 12 and nonce and len(nonce) <= MAX_NONCE) \
                or not self.credentials.check(query.get("signature", ""), timestamp, nonce):
            raise _refused(SignatureInvalid(), "signature")
        if abs(request.app[keys.CLOCK].now().timestamp() - int(timestamp)) > TIMESTAMP_WINDOW:
            raise _refused(TimestampOutOfWindow(), f"timestamp {timestamp}")
        return self.credentials, timestamp, nonce

    async def verify(self, request: web.Request) -> web.Response:
        """WeChat's server verification: echo `echostr` when the signature holds (both modes)."""
        self._check(request)
        echostr = request.query.get("echostr", "")
        if not echostr or len(echostr) > MAX_ECHOSTR:
            raise _refused(MessageInvalid("缺少 echostr"), "echostr")
        return web.Response(text=echostr)

    async def receive(self, request: web.Request) -> web.Response:
        """One message from WeChat: always answered in time, once per message."""
        started = time.monotonic()
        credentials, timestamp, nonce = self._check(request)
        fields = _fields(await _read_body(request))
        if credentials.safe_mode:
            encrypt = fields.get("Encrypt", "")
            if request.query.get("encrypt_type") != "aes" or not encrypt \
                    or not credentials.check(request.query.get("msg_signature", ""), timestamp, nonce, encrypt):
                raise _refused(SignatureInvalid(), "msg_signature")
            try:
                fields = _fields(credentials.decrypt(encrypt))
            except XmlInvalid as exc:
                raise _refused(MessageInvalid(), str(exc)) from None
        incoming = incoming_from(fields)
        clock = request.app[keys.CLOCK]

        def finish(reply: Reply) -> str:
            now = int(clock.now().timestamp())
            xml = render(reply, incoming, now)
            if credentials.safe_mode and xml != "success":
                return credentials.encrypt(xml, timestamp=str(now), nonce=nonce)
            return xml

        body = await self._answer(request.app, incoming, finish, started)
        if body == "success":
            return web.Response(text=body)
        return web.Response(text=body, content_type="application/xml")

    async def _answer(self, app: web.Application, incoming: Incoming, finish: Callable[[Reply], str],
                      started: float) -> str:
        """The rendered reply: the stored one for a retry, else the dialogue's (or a holding one).
        The claim on the message reads what the dialogue keeps of the user, and the reply is
        stored for retries with what it keeps now: one round trip to the state store each."""
        state = app[keys.STATE]
        key = DEDUPE_KEY.format(account=incoming.account, key=incoming.dedupe_key)
        memory_key = MEMORY_KEY.format(openid=incoming.openid)
        try:  # the store bounds each call (2 s), well within the budget at this point
            first, memory = await state.claim(key, PENDING, DEDUPE_TTL, read=memory_key)
        except Exception:  # noqa: BLE001 - no dedupe, no dialogue: answer without side effects
            log.exception("dedupe claim failed", extra={"dedupe_key": incoming.dedupe_key})
            return finish(Reply(text=FAILURE_TEXT))
        if not first:
            return await self._reply_of_first(state, key, incoming, finish, started)
        turn = self._turns.begin(incoming.openid)
        try:
            answer = await self._respond(app, incoming, memory, started, turn)
            body = finish(answer.reply)
            kept = [] if answer.memory is None else [(memory_key, answer.memory, MEMORY_TTL)]
            try:
                await _within(state.set_many([(key, READY + body, DEDUPE_TTL), *kept]), started + STORE_SECONDS)
            except Exception:  # noqa: BLE001 - see below
                log.exception("storing the reply for retries failed", extra={"dedupe_key": incoming.dedupe_key})
                if kept:  # the conversation may not have moved on: the reply must not take it that it did
                    return finish(Reply(text=FAILURE_TEXT))
            return body
        finally:
            if not turn.deferred:
                self._turns.end(turn)

    async def _reply_of_first(self, state, key: str, incoming: Incoming, finish: Callable[[Reply], str],
                              started: float) -> str:
        """A retry: the first request's stored reply, waited for while that one still runs."""
        while True:
            try:
                value = await _within(state.get(key), started + WAIT_SECONDS)
            except Exception:  # noqa: BLE001 - the store failed or is slow: stop waiting
                log.exception("reading the stored reply failed", extra={"dedupe_key": incoming.dedupe_key})
                break
            if value is not None and value.startswith(READY):
                log.info("wechat retry answered with the stored reply", extra={"dedupe_key": incoming.dedupe_key})
                return value[len(READY):]
            if time.monotonic() + POLL_SECONDS >= started + WAIT_SECONDS:
                break
            await asyncio.sleep(POLL_SECONDS)
        # The first request died or cannot store its reply: say the answer will follow, as a
        # slow first request would have.
        log.warning("no stored reply for a retried message", extra={"dedupe_key": incoming.dedupe_key})
        return finish(Reply(text=HOLDING_TEXT))

    async def _respond(self, app: web.Application, incoming: Incoming, memory: str | None, started: float,
                       turn: _Turn) -> Answer:
        """The dialogue's answer within the budget; past it a holding reply, the answer following."""
        respond = app.get(keys.BOT_RESPOND)
        if respond is None:
            return Answer(Reply(text=UNAVAILABLE_TEXT))

        async def in_order(memory: str | None) -> Answer:
            if turn.earlier is not None:  # an earlier message of this user is still being answered
                await asyncio.wait({turn.earlier})
                memory = await app[keys.STATE].get(MEMORY_KEY.format(openid=incoming.openid))
            return await respond(app, incoming, memory)

        task = asyncio.create_task(in_order(memory), name=f"bot-respond:{incoming.dedupe_key}")
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, started + BUDGET_SECONDS - time.monotonic()))
        except asyncio.CancelledError:  # the request was dropped: the answer still follows
            self._later(app, incoming, task, turn)
            raise
        if not done:
            log.warning("reply over budget: holding reply, answer follows", extra={"dedupe_key": incoming.dedupe_key})
            self._later(app, incoming, task, turn)
            return Answer(Reply(text=HOLDING_TEXT))
        try:
            return task.result()
        except Exception:  # noqa: BLE001 - WeChat gets a friendly text, never an error page
            log.exception("dialogue failed", extra={"dedupe_key": incoming.dedupe_key})
            return Answer(Reply(text=FAILURE_TEXT))

    def _later(self, app: web.Application, incoming: Incoming, task: asyncio.Task, turn: _Turn) -> None:
        turn.deferred = True
        job = asyncio.create_task(self._follow_up(app, incoming, task, turn),
                                  name=f"bot-follow-up:{incoming.dedupe_key}")
        self._follow_ups.add(job)
        job.add_done_callback(self._follow_ups.discard)

    async def _follow_up(self, app: web.Application, incoming: Incoming, task: asyncio.Task, turn: _Turn) -> None:
        """Wait for the dialogue, keep what it keeps of the user, then put its answer in the outbox
        as a customer-service message. A transfer sends nothing more: the dialogue tells the user
        itself, in the transaction that opens the handoff, and the agents answer by
        customer-service message."""
        try:
            answer = await self._finished(app, incoming, task)
        finally:
            self._turns.end(turn)
        reply = answer.reply
        text = "" if reply.transfer else reply.text
        if not text:
            return
        draft = outbox.wechat_text(key=f"bot_followup:{incoming.account}:{incoming.dedupe_key}", openid=incoming.openid,
                                   kind="bot_followup", text=text)
        try:
            async with transaction(app) as session:
                await outbox.enqueue(session, [draft], app[keys.CLOCK].now())
        except Exception:  # noqa: BLE001 - logged; nothing else can be done for this message
            log.exception("could not queue the follow-up message", extra={"dedupe_key": incoming.dedupe_key})
            return
        log.info("follow-up queued", extra={"dedupe_key": incoming.dedupe_key})

    @staticmethod
    async def _finished(app: web.Application, incoming: Incoming, task: asyncio.Task) -> Answer:
        """A late dialogue's answer, with what it keeps of the user stored; an apology instead
        when it failed or that could not be stored."""
        try:
            answer = await task
        except Exception:  # noqa: BLE001 - the user was promised an answer: send an apology
            log.exception("dialogue failed after the holding reply", extra={"dedupe_key": incoming.dedupe_key})
            return Answer(Reply(text=FAILURE_TEXT))
        if answer.memory is not None:
            try:
                await app[keys.STATE].set(MEMORY_KEY.format(openid=incoming.openid), answer.memory, MEMORY_TTL)
            except Exception:  # noqa: BLE001 - the conversation may not have moved on: an apology instead
                log.exception("storing the conversation failed", extra={"dedupe_key": incoming.dedupe_key})
                return Answer(Reply(text=FAILURE_TEXT))
        return answer
