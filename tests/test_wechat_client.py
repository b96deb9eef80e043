"""The WeChat API client against the fake WeChat server: real HTTP, real Redis, no mocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from core import keys
from core.settings import load_settings
from core.wechat import WeChatApi, WeChatError, wechat_context
from tests.fake_wechat import FakeWeChat, fake_wechat  # noqa: F401 - the fixture
from tests.processes import free_port as closed_port

SUBSCRIBE = "/cgi-bin/message/subscribe/send"
CUSTOM = "/cgi-bin/message/custom/send"
TOKEN = "/cgi-bin/token"


@pytest.fixture
def make_api(fake_wechat: FakeWeChat) -> Iterator[Callable[..., WeChatApi]]:  # noqa: F811
    """WeChatApi instances pointed at the fake (in-process tokens unless redis_url is given)."""
    apis: list[WeChatApi] = []

    def build(*, timeout: float = 2.0, **overrides) -> WeChatApi:
        values = {**fake_wechat.settings(), "redis_url": None, **overrides}
        api = WeChatApi(load_settings(**values), timeout=timeout)
        apis.append(api)
        return api

    yield build
    for api in apis:
        api.close()


async def _send(api: WeChatApi, openid: str = "openid-1") -> None:
    await api.send_subscribe_message(openid, "tpl-progress", {"thing1": "居住证申领", "phrase2": "已受理"})


async def test_code_to_session_returns_the_user_without_fetching_a_token(fake_wechat, make_api):  # noqa: F811
    fake_wechat.add_code("code-1", "openid-1", unionid="union-1")
    fake_wechat.add_code("code-2", "openid-2")
    api = make_api()

    first = await api.code_to_session("code-1")
    second = await api.code_to_session("code-2")

    assert (first.openid, first.unionid) == ("openid-1", "union-1")
    assert (second.openid, second.unionid) == ("openid-2", None)
    assert first.session_key and first.session_key not in repr(first)
    assert fake_wechat.requests == ["/sns/jscode2session"] * 2  # through the configured base URL
    assert fake_wechat.tokens_issued == 0


async def test_unknown_or_reused_code_is_a_permanent_error(fake_wechat, make_api):  # noqa: F811
    fake_wechat.add_code("code-1", "openid-1")
    api = make_api()
    await api.code_to_session("code-1")

    for code in ("code-1", "never-issued"):
        with pytest.raises(WeChatError) as caught:
            await api.code_to_session(code)
        assert (caught.value.code, caught.value.permanent) == (40029, True)


async def test_subscribe_message_reaches_wechat_with_wrapped_values(fake_wechat, make_api):  # noqa: F811
    api = make_api()
    await api.send_subscribe_message("openid-1", "tpl-progress", {"thing1": "居住证申领", "phrase2": "已受理"},
                                     page="pages/progress/index?id=7")
    await _send(api, "openid-2")

    assert fake_wechat.subscribe_messages == [
        {"touser": "openid-1", "template_id": "tpl-progress", "page": "pages/progress/index?id=7",
         "data": {"thing1": {"value": "居住证申领"}, "phrase2": {"value": "已受理"}}},
        {"touser": "openid-2", "template_id": "tpl-progress",
         "data": {"thing1": {"value": "居住证申领"}, "phrase2": {"value": "已受理"}}},
    ]


async def test_text_message_goes_out_with_the_official_account_token(fake_wechat, make_api):  # noqa: F811
    api = make_api()
    await api.send_text("openid-9", "您的办件已办结")
    await _send(api)

    assert fake_wechat.custom_messages == [
        {"touser": "openid-9", "msgtype": "text", "text": {"content": "您的办件已办结"}}]
    assert fake_wechat.tokens_issued == 2  # one per app: the fake refuses the other app's token (48001)


async def test_token_is_fetched_once_and_reused(fake_wechat, make_api):  # noqa: F811
    api = make_api()
    await asyncio.gather(*(_send(api, f"openid-{i}") for i in range(12)))  # concurrent first calls
    await _send(api)

    assert len(fake_wechat.subscribe_messages) == 13
    assert fake_wechat.tokens_issued == 1
    assert fake_wechat.requests.count(TOKEN) == 1


async def test_expired_token_is_refreshed_and_the_message_delivered_once(fake_wechat, make_api):  # noqa: F811
    api = make_api()
    await _send(api, "openid-1")
    fake_wechat.expire_tokens()  # answers 42001
    await _send(api, "openid-2")
    fake_wechat.fail_next(SUBSCRIBE, 40001)  # "invalid credential": refreshed the same way
    await _send(api, "openid-3")

    assert [m["touser"] for m in fake_wechat.subscribe_messages] == ["openid-1", "openid-2", "openid-3"]
    assert fake_wechat.tokens_issued == 3
    assert fake_wechat.requests == [TOKEN, SUBSCRIBE, SUBSCRIBE, TOKEN, SUBSCRIBE, SUBSCRIBE, TOKEN, SUBSCRIBE]


async def test_a_token_refused_after_a_refresh_is_not_refreshed_again(fake_wechat, make_api):  # noqa: F811
    # wechatpy alone would refresh and retry for as long as WeChat says 40001.
    api = make_api()
    fake_wechat.fail_next(SUBSCRIBE, 40001, times=10)

    with pytest.raises(WeChatError) as caught:
        await _send(api)

    assert (caught.value.code, caught.value.permanent) == (40001, False)
    assert fake_wechat.tokens_issued == 2
    assert fake_wechat.requests.count(SUBSCRIBE) == 2


@pytest.mark.parametrize(("errcode", "permanent"), [
    (43101, True),   # the user refused the subscription
    (40037, True),   # invalid template
    (40003, True),   # invalid openid
    (45015, True),   # response window closed
    (-1, False),     # system busy
    (45009, False),  # quota reached
])
async def test_wechat_errcodes_map_to_permanent_or_temporary(fake_wechat, make_api, errcode, permanent):  # noqa: F811
    api = make_api()
    fake_wechat.fail_next(SUBSCRIBE, errcode)

    with pytest.raises(WeChatError) as caught:
        await _send(api)

    assert (caught.value.code, caught.value.permanent) == (errcode, permanent)
    assert fake_wechat.subscribe_messages == []


@pytest.mark.parametrize(("status", "permanent"), [(502, False), (404, True)])
async def test_http_5xx_is_temporary_and_4xx_permanent(fake_wechat, make_api, status, permanent):  # noqa: F811
    api = make_api()
    fake_wechat.fail_next(CUSTOM, -1, status=status)

    with pytest.raises(WeChatError) as caught:
        await api.send_text("openid-1", "您好")

    assert (caught.value.code, caught.value.permanent) == (-1, permanent)


async def test_wrong_secret_is_permanent(fake_wechat, make_api):  # noqa: F811
    api = make_api(wechat_app_secret="not-the-secret")

    with pytest.raises(WeChatError) as caught:
        await api.send_text("openid-1", "您好")

    assert (caught.value.code, caught.value.permanent) == (40125, True)
    assert "not-the-secret" not in str(caught.value)


async def test_slow_wechat_times_out_without_blocking_the_loop(fake_wechat, make_api):  # noqa: F811
    api = make_api(timeout=0.3)
    fake_wechat.delay = 2.0
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        with pytest.raises(WeChatError) as caught:
            await _send(api)
    finally:
        ticker.cancel()
    elapsed = time.monotonic() - started

    assert (caught.value.code, caught.value.permanent) == (-1, False)
    assert 0.25 < elapsed < 0.6
    assert ticks >= 15  # the loop kept running while the worker thread waited


async def test_a_connection_dropped_after_the_message_went_out_is_uncertain_not_retried(make_api):
    """WeChat read the POST and the connection broke before its answer: it may have sent it."""
    async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if request.startswith(b"GET /cgi-bin/token"):
            body = b'{"access_token": "t", "expires_in": 7200}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
        writer.close()  # a POST: read, then the connection is gone

    server = await asyncio.start_server(read_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        api = make_api(wechat_api_base_url=f"http://127.0.0.1:{port}/")
        with pytest.raises(WeChatError) as caught:
            await api.send_text("openid-1", "您好")
    finally:
        server.close()
        await server.wait_closed()
    assert (caught.value.permanent, caught.value.uncertain) == (False, True)


async def test_unreachable_wechat_is_temporary(make_api):
    api = make_api(wechat_api_base_url=f"http://127.0.0.1:{closed_port()}/")

    with pytest.raises(WeChatError) as caught:
        await api.send_text("openid-1", "您好")

    assert (caught.value.code, caught.value.permanent, caught.value.uncertain) == (-1, False, False)  # nothing went out


async def test_missing_credentials_fail_at_call_time(make_api):
    api = make_api(wechat_miniapp_id=None, wechat_app_secret=None)  # building it needs nothing

    with pytest.raises(WeChatError) as caught:
        await api.code_to_session("code-1")
    assert (caught.value.code, caught.value.permanent, caught.value.message) == (
        -2, True, "未配置微信小程序 AppID/AppSecret")
    with pytest.raises(WeChatError) as caught:
        await api.send_text("openid-1", "您好")
    assert (caught.value.code, caught.value.permanent) == (-2, True)


async def test_processes_share_one_token_through_redis(fake_wechat, make_api, redis_url):  # noqa: F811
    first, second = make_api(redis_url=redis_url), make_api(redis_url=redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await _send(first, "openid-1")
        await _send(second, "openid-2")
        await second.send_text("openid-3", "您好")
        await first.send_text("openid-4", "您好")

        assert fake_wechat.tokens_issued == 2  # one per app, shared by both instances
        assert len(fake_wechat.subscribe_messages) == len(fake_wechat.custom_messages) == 2
        assert await client.ttl(f"wechatpy:{fake_wechat.miniapp_id}_access_token") > 7000
    finally:
        await client.flushdb()
        await client.aclose()


async def test_context_creates_and_closes_the_client(fake_wechat):  # noqa: F811
    app = web.Application()
    app[keys.SETTINGS] = load_settings(**fake_wechat.settings(), redis_url=None)
    app.cleanup_ctx.append(wechat_context)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await app[keys.WECHAT].send_text("openid-1", "您好")
    finally:
        await runner.cleanup()

    assert len(fake_wechat.custom_messages) == 1
    with pytest.raises(RuntimeError):  # closed: takes no more calls
        await app[keys.WECHAT].send_text("openid-1", "您好")
