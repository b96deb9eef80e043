"""A fake WeChat API server (微信接口) for tests and benchmarks: a real aiohttp server on 127.0.0.1
answering WeChat's paths with WeChat's JSON shapes, and recording what it accepted.

    fake = await start_fake_wechat()
    settings = load_settings(**fake.settings())    # WECHAT_API_BASE_URL and the app credentials
    ...
    await fake.close()

or use the `fake_wechat` fixture below. Knobs: `add_code()` registers a wx.login code,
`fail_next()` makes an endpoint answer an errcode, `expire_tokens()` invalidates every issued
access token, `delay` slows every answer down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47003: "argument invalid!",
    48001: "api unauthorized",
}


def _error(errcode: int, status: int = 200) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}, status=status)


def _ok() -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok"})


@dataclass
class _Failure:
    path_suffix: str
    errcode: int
    times: int
    status: int


class FakeWeChat:
    """WeChat's token, jscode2session, subscribe-message and customer-service-message endpoints."""

    def __init__(self, *, app_id: str = "wx-official-test", app_secret: str = "official-secret",
                 miniapp_id: str = "wx-miniapp-test", miniapp_secret: str = "miniapp-secret"):
        self.app_id, self.app_secret = app_id, app_secret
        self.miniapp_id, self.miniapp_secret = miniapp_id, miniapp_secret
        self.base_url = ""  # "http://127.0.0.1:PORT/" once started
        self.codes: dict[str, dict] = {}
        self.subscribe_messages: list[dict] = []
        self.custom_messages: list[dict] = []
        self.requests: list[str] = []  # the path of every request, in order: fake.requests.count(path)
        self.delay = 0.0
        self.tokens_issued = 0
        self._used_codes: set[str] = set()
        self._tokens: dict[str, str] = {}  # live access token -> the appid it was issued to
        self._expired: set[str] = set()
        self._failures: list[_Failure] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def settings(self) -> dict[str, str]:
        """The settings that point the service at this fake: `load_settings(**fake.settings())`."""
        return {"wechat_api_base_url": self.base_url,
                "wechat_app_id": self.app_id, "wechat_app_secret": self.app_secret,
                "wechat_miniapp_id": self.miniapp_id, "wechat_miniapp_secret": self.miniapp_secret}

    def add_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        """Register a wx.login code; jscode2session accepts it once."""
        self.codes[code] = {"openid": openid, "unionid": unionid}

    def fail_next(self, path_suffix: str, errcode: int, times: int = 1, *, status: int = 200) -> None:
        """The next `times` requests whose path ends with `path_suffix` answer `errcode` (with HTTP `status`)."""
        self._failures.append(_Failure(path_suffix, errcode, times, status))

    def expire_tokens(self) -> None:
        """Every access token issued so far now answers 42001 until a new one is fetched."""
        self._expired.update(self._tokens)
        self._tokens.clear()

    async def start(self) -> FakeWeChat:
        app = web.Application(middlewares=[self._edge])
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_get("/sns/jscode2session", self._jscode2session)
        app.router.add_post("/cgi-bin/message/subscribe/send", self._subscribe_send)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/"
        return self

    async def close(self) -> None:
        self._closing.set()  # delayed answers go out now instead of holding the shutdown
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _edge(self, request: web.Request, handler) -> web.StreamResponse:
        self.requests.append(request.path)
        await request.read()  # like WeChat: the whole request is in before the (slow) answer
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay)
        for failure in self._failures:
            if failure.times > 0 and request.path.endswith(failure.path_suffix):
                failure.times -= 1
                return _error(failure.errcode, failure.status)
        return await handler(request)

    def _caller(self, request: web.Request) -> str | web.Response:
        """The appid the request's access token was issued to, or WeChat's answer to a bad token."""
        token = request.query.get("access_token", "")
        if token in self._expired:
            return _error(42001)
        return self._tokens.get(token) or _error(40001)

    async def _body(self, request: web.Request) -> dict | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("grant_type") != "client_credential":
            return _error(40002)
        secrets = {self.app_id: self.app_secret, self.miniapp_id: self.miniapp_secret}
        appid = request.query.get("appid", "")
        if appid not in secrets:
            return _error(40013)
        if request.query.get("secret") != secrets[appid]:
            return _error(40125)
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}-{uuid.uuid4().hex}"
        self._tokens[token] = appid
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _jscode2session(self, request: web.Request) -> web.Response:
        if request.query.get("grant_type") != "authorization_code":
            return _error(40002)
        if request.query.get("appid") != self.miniapp_id:
            return _error(40013)
        if request.query.get("secret") != self.miniapp_secret:
            return _error(40125)
        code = request.query.get("js_code", "")
        if code not in self.codes or code in self._used_codes:
            return _error(40029)
        self._used_codes.add(code)
        user = self.codes[code]
        answer = {"openid": user["openid"], "session_key": uuid.uuid4().hex[:24]}
        if user["unionid"]:
            answer["unionid"] = user["unionid"]
        return web.json_response(answer)

    async def _subscribe_send(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        if caller != self.miniapp_id:
            return _error(48001)
        body = await self._body(request)
        if not body or not body.get("touser"):
            return _error(40003)
        if not body.get("template_id"):
            return _error(40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("value"), str)
                                                 for v in data.values()):
            return _error(47003)
        self.subscribe_messages.append(body)
        return _ok()

    async def _custom_send(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        if caller != self.app_id:
            return _error(48001)
        body = await self._body(request)
        if not body or not body.get("touser"):
            return _error(40003)
        if body.get("msgtype") != "text" or not isinstance(body.get("text"), dict):
            return _error(47003)
        self.custom_messages.append(body)
        return _ok()


async def start_fake_wechat(**credentials: str) -> FakeWeChat:
    """A started FakeWeChat; `credentials` are FakeWeChat's app_id/app_secret/miniapp_id/miniapp_secret."""
    return await FakeWeChat(**credentials).start()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChat]:
    """A started fake WeChat server, closed after the test."""
    fake = await start_fake_wechat()
    try:
        yield fake
    finally:
        await fake.close()
