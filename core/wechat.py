"""Outgoing WeChat API calls (微信接口): mini-program login, subscribe messages, and the official
account's customer-service text messages, through wechatpy and off the event loop.

wechatpy is synchronous (requests), so each call runs on a small thread pool and is bounded twice:
`asyncio.wait_for` bounds the caller, and every HTTP request the call makes gets a timeout that
ends no later than the call's deadline, so an abandoned worker thread gives up soon after too.
Access tokens are kept in Redis when `REDIS_URL` is set (every process shares one token) and in
memory otherwise. Building the client does no I/O and needs no credentials (the embedded mode
runs without WeChat): a call whose AppID/AppSecret is missing fails with a permanent `WeChatError`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis
import requests
from aiohttp import web
from redis.exceptions import RedisError
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from core import keys, metrics
from core.settings import Settings

log = logging.getLogger("wechat")

TIMEOUT_SECONDS = 4.0
TOKEN_KEY_PREFIX = "wechatpy"  # Redis keys "wechatpy:{appid}_access_token", wechatpy's own layout
THREADS = 8  # concurrent WeChat calls per process
# wechatpy hard-codes this origin in its clients' and APIs' base URLs, in the token URL and in
# some absolute URLs; `_RoutedSession` swaps it for WECHAT_API_BASE_URL on every request.
_WECHAT_ORIGIN = "https://api.weixin.qq.com/"
_TOKEN_FETCHES_PER_CALL = 2  # the first token, and one refresh after WeChat refused a token

# Errcodes a later retry may get past. Every other code names a bad request, a refusal by the user
# or a configuration problem (43101, 40037, 40003, 40029, 40163, 45015, 45047, 40125...), which a
# retry would only repeat.
_TEMPORARY_CODES = frozenset({
    -1,  # system busy
    40001, 40014, 42001,  # the token was refused even after a refresh (another process refreshing it)
    45009,  # daily API quota reached
    45011,  # per-minute API quota reached
})


@dataclass(frozen=True)
class MiniappSession:
    """Who a mini-program wx.login() code belongs to. Never log `session_key`."""

    openid: str
    unionid: str | None
    session_key: str = field(repr=False)  # kept out of logs and tracebacks


class WeChatError(Exception):
    """A WeChat API call that failed. `code` is WeChat's errcode (-1 for network, timeout or HTTP
    errors, -2 when the app is not configured); `permanent` is True when retrying cannot help (the
    user refused the subscription 43101, invalid template 40037, invalid openid 40003, invalid code
    40029/40163, response window closed 45015/45047…), False for temporary errors (system busy -1,
    timeouts, connection errors, 45009 rate limit, 5xx)."""

    def __init__(self, *, code: int, permanent: bool, message: str, uncertain: bool = False):
        super().__init__(f"{code} {message}")
        self.code = code
        self.permanent = permanent
        self.message = message
        # A message was sent and no answer came: WeChat may have delivered it. Sending it again
        # could give the user a second copy, so the outbox does not.
        self.uncertain = uncertain


class _CallBudget(threading.local):
    """What the WeChat call running on this worker thread may still spend."""

    deadline: float | None = None
    token_fetches: int = 0
    unanswered: list[int] | None = None  # [POSTs sent whose answer has not come (yet)], shared with the caller


_budget = _CallBudget()


class _RoutedSession(requests.Session):
    """The requests session of one wechatpy client: URLs on WeChat's origin go to `base_url`, and
    each request has a timeout (wechatpy's token fetch passes none) that ends by the call's deadline."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__()
        self._base_url = base_url
        self._timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if url.startswith(_WECHAT_ORIGIN):
            url = self._base_url + url.removeprefix(_WECHAT_ORIGIN)
        timeout = kwargs.get("timeout") or self._timeout
        if _budget.deadline is not None:
            left = _budget.deadline - time.monotonic()
            if left <= 0:
                raise requests.Timeout("the WeChat call's deadline has passed")
            timeout = min(timeout, left)
        kwargs["timeout"] = timeout
        if method.upper() != "POST":  # GETs (token, code exchange) change nothing at WeChat
            return super().request(method, url, *args, **kwargs)
        unanswered = _budget.unanswered if _budget.unanswered is not None else [0]
        unanswered[0] += 1
        response = super().request(method, url, *args, **kwargs)
        unanswered[0] -= 1
        return response


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request failed before a connection was made, so nothing of it reached WeChat
    (refused, unresolvable, not connected in time, the proxy or the TLS handshake failing)."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.ProxyError, requests.exceptions.SSLError)):
        return True  # no connection, or none WeChat's end would read (the proxy, the TLS handshake)
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError carries the error behind it
    return isinstance(cause, (NewConnectionError, ConnectTimeoutError))


class _Client(WeChatClient):
    """wechatpy's client, routed through `_RoutedSession`, refreshing its token once at a time.

    wechatpy refreshes the token and retries by itself when WeChat answers 40001/40014/42001, but
    without a limit: a token refused again would be refreshed again, spending the daily token quota.
    Here one call fetches at most `_TOKEN_FETCHES_PER_CALL` tokens, and threads that find the token
    refreshed while they waited for the lock use that one instead of fetching their own.
    """

    def __init__(self, appid: str, secret: str, *, base_url: str, storage: SessionStorage, timeout: float):
        super().__init__(appid, secret, session=storage, timeout=timeout)
        self._http.close()
        self._http = _RoutedSession(base_url, timeout)
        self._token_lock = threading.Lock()

    def fetch_access_token(self) -> dict:
        seen = self.session.get(self.access_token_key)
        with self._token_lock:
            current = self.session.get(self.access_token_key)
            if current is not None and current != seen:
                return {"access_token": current}
            if _budget.token_fetches >= _TOKEN_FETCHES_PER_CALL:
                raise WeChatClientException(40001, "access_token refused again after a refresh", client=self)
            _budget.token_fetches += 1
            return super().fetch_access_token()

    def close(self) -> None:
        self._http.close()


def _client_error(exc: WeChatClientException) -> WeChatError:
    if exc.errcode is None:  # wechatpy's wrapper of an HTTP error status
        status = getattr(exc.response, "status_code", None)
        permanent = status is not None and 400 <= status < 500 and status != 429
        return WeChatError(code=-1, permanent=permanent, message=f"微信接口应答 HTTP {status}")
    code = int(exc.errcode)
    return WeChatError(code=code, permanent=code not in _TEMPORARY_CODES, message=f"微信接口错误 {code}：{exc.errmsg}")


class WeChatApi:
    """The WeChat API calls the service makes, as coroutines; see the module docstring."""

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS,
                 on_error: Callable[[str, WeChatError], None] | None = None):
        self._timeout = timeout
        self._on_error = on_error  # core.metrics counts the failures
        self._redis = (redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
                       if settings.redis_url else None)
        storage = RedisStorage(self._redis, prefix=TOKEN_KEY_PREFIX) if self._redis else MemoryStorage()

        def client(appid: str | None, secret: str | None) -> _Client | None:
            if not (appid and secret):
                return None
            return _Client(appid, secret, base_url=settings.wechat_api_base_url, storage=storage, timeout=timeout)

        self._official = client(settings.wechat_app_id, settings.wechat_app_secret)
        self._miniapp = client(settings.wechat_miniapp_id, settings.wechat_miniapp_secret)
        self._executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="wechat")

    async def code_to_session(self, code: str) -> MiniappSession:
        """Exchange a mini-program wx.login() code for the user's openid (登录凭证校验); a code works once."""
        client = self._require(self._miniapp, "小程序")
        # Not wechatpy's wxa.code_to_session(): it would first fetch an access token, which this
        # endpoint does not take. A None access_token stops wechatpy from adding one, and
        # requests leaves None-valued parameters out of the URL.
        params = {"appid": client.appid, "secret": client.secret, "js_code": code,
                  "grant_type": "authorization_code", "access_token": None}
        result = await self._run("code_to_session", lambda: client.get(
            "sns/jscode2session", params=params, api_base_url=_WECHAT_ORIGIN))
        if not result.get("openid") or not result.get("session_key"):
            raise self._failed("code_to_session", WeChatError(
                code=-1, permanent=False, message="微信登录接口的应答缺少 openid 或 session_key"))
        return MiniappSession(openid=result["openid"], unionid=result.get("unionid") or None,
                              session_key=result["session_key"])

    async def send_subscribe_message(self, openid: str, template_id: str, data: dict[str, str],
                                     page: str | None = None) -> None:
        """Send a mini-program subscribe message (订阅消息); `data` maps template keys to plain strings."""
        client = self._require(self._miniapp, "小程序")
        values = {key: {"value": value} for key, value in data.items()}
        await self._run("send_subscribe_message",
                        lambda: client.wxa.send_subscribe_message(openid, template_id, values, page))

    async def send_text(self, openid: str, content: str) -> None:
        """Send an official-account customer-service text message (客服消息)."""
        client = self._require(self._official, "公众号")
        await self._run("send_text", lambda: client.message.send_text(openid, content))

    def close(self) -> None:
        """Stop taking calls and release connections; a call still on a worker thread ends by its deadline."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        for client in (self._official, self._miniapp):
            if client is not None:
                client.close()
        if self._redis is not None:
            self._redis.close()

    @staticmethod
    def _require(client: _Client | None, which: str) -> _Client:
        if client is None:
            raise WeChatError(code=-2, permanent=True, message=f"未配置微信{which} AppID/AppSecret")
        return client

    async def _run(self, api: str, call: Callable[[], Any]) -> dict:
        """Run one wechatpy call on the pool within the timeout; map every failure to WeChatError."""
        deadline = time.monotonic() + self._timeout
        unanswered = [0]  # a POST left without an answer: WeChat may have acted on it

        def work() -> Any:
            _budget.deadline, _budget.token_fetches, _budget.unanswered = deadline, 0, unanswered
            try:
                return call()
            finally:
                _budget.deadline, _budget.unanswered = None, None

        loop = asyncio.get_running_loop()
        # The errors are raised outside the except blocks: requests' messages and tracebacks
        # carry the URL, and with it the AppSecret or access token, so they are not chained.
        try:
            result = await asyncio.wait_for(loop.run_in_executor(self._executor, work), self._timeout)
        except requests.ConnectTimeout:
            error = WeChatError(code=-1, permanent=False, message=f"微信接口 {self._timeout:g} 秒内未能连接")
        except (TimeoutError, requests.Timeout):
            error = WeChatError(code=-1, permanent=False, message=f"微信接口 {self._timeout:g} 秒内未应答",
                                uncertain=unanswered[0] > 0)
        except WeChatClientException as exc:
            error = _client_error(exc)
        except requests.RequestException as exc:
            # A connection dropped after a POST went out leaves its outcome unknown, as a timeout does.
            error = WeChatError(code=-1, permanent=False, message=f"无法连接微信接口（{type(exc).__name__}）",
                                uncertain=unanswered[0] > 0 and not _never_sent(exc))
        except RedisError as exc:
            error = WeChatError(code=-1, permanent=False, message=f"令牌存储 Redis 不可用（{type(exc).__name__}）")
        else:
            if isinstance(result, dict):
                return result
            error = WeChatError(code=-1, permanent=False, message="微信接口的应答不是 JSON")
        raise self._failed(api, error)

    def _failed(self, api: str, error: WeChatError) -> WeChatError:
        log.warning("wechat call failed", extra={"api": api, "errcode": error.code, "permanent": error.permanent,
                                                 "reason": error.message})
        if self._on_error is not None:
            self._on_error(api, error)
        return error


async def wechat_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the WeChat API client for the app's lifetime (no I/O until the first call)."""
    app[keys.WECHAT] = WeChatApi(app[keys.SETTINGS], on_error=metrics.wechat_error_counter(app))
    yield
    app[keys.WECHAT].close()
