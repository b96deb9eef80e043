"""The one error format, request ids, the deadline endpoint and the bearer sessions of the
mini-program API."""

from __future__ import annotations

import hashlib
import io
import json

from aiohttp import web

from core import keys
from core.logs import configure_logging
from personal_space.demo import DEMO_OPENID
from server import create_app


async def test_deadline_over_national_day_2026(client):
    response = await client.get("/api/v1/calendar/deadline", params={"from": "2026-09-30", "working_days": "5"})
    assert response.status == 200
    body = await response.json()
    assert body["due_date"] == "2026-10-13"
    assert body["deadline"] == "2026-10-13T23:59:59+08:00"
    assert body["provisional"] is False
    assert body["calendar_version"]


async def test_deadline_into_an_unpublished_year_is_provisional(client):
    response = await client.get("/api/v1/calendar/deadline", params={"from": "2026-12-24", "working_days": "15"})
    body = await response.json()
    assert response.status == 200
    assert body["due_date"].startswith("2027-01-")
    assert body["provisional"] is True


async def test_bad_parameters_get_a_chinese_message_and_a_stable_code(client):
    cases = [
        ({"working_days": "5"}, "from"),
        ({"from": "2026-13-40", "working_days": "5"}, "from"),
        ({"from": "2026-09-30", "working_days": "-1"}, "working_days"),
        ({"from": "2026-09-30", "working_days": "五"}, "working_days"),
    ]
    for params, field in cases:
        response = await client.get("/api/v1/calendar/deadline", params=params)
        body = await response.json()
        assert response.status == 400, params
        assert body["error"]["code"] == "invalid_input"
        assert field in body["error"]["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
        assert body["error"]["details"][0]["field"] == field


async def test_a_date_outside_the_calendar_is_refused(client):
    response = await client.get("/api/v1/calendar/deadline", params={"from": "1999-12-31", "working_days": "1"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "date_out_of_range"


async def test_unknown_paths_and_methods_answer_in_the_error_format(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    response = await client.post("/api/v1/calendar/deadline")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_request_id_is_echoed_or_made(client):
    response = await client.get("/healthz", headers={"X-Request-Id": "abc12345-trace"})
    assert response.headers["X-Request-Id"] == "abc12345-trace"
    made = (await client.get("/healthz", headers={"X-Request-Id": "<bad id>"})).headers["X-Request-Id"]
    assert made != "<bad id>" and len(made) == 32


async def test_a_session_is_stored_under_its_token_digest_for_a_week_and_ends_with_its_record(
        aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(demo_login=True), clock=clock))
    login = await (await client.post("/api/v1/auth/demo-login")).json()
    assert login["expires_in"] == 7 * 24 * 3600
    state = client.server.app[keys.STATE]
    key = "auth:session:" + hashlib.sha256(login["token"].encode()).hexdigest()
    assert await state.get_json(key) == {"openid": DEMO_OPENID, "unionid": None}
    assert 7 * 24 * 3600 - 5 < await state.ttl(key) <= 7 * 24 * 3600
    bearer = {"Authorization": f"Bearer {login['token']}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status == 200
    await state.delete(key)
    expired = await client.get("/api/v1/me", headers=bearer)
    assert expired.status == 401 and (await expired.json())["error"]["code"] == "session_expired"
    anonymous = await client.get("/api/v1/me")
    assert anonymous.status == 401 and (await anonymous.json())["error"]["code"] == "unauthenticated"


async def test_an_unexpected_error_hides_the_trace_and_logs_it_with_the_request_id(aiohttp_client, make_settings):
    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("secret detail for 11010519491231002X")

    app = create_app(make_settings())
    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    buffer = io.StringIO()
    configure_logging("INFO", buffer)
    try:
        response = await client.get("/boom", headers={"X-Request-Id": "req-0000boom"})
    finally:
        configure_logging("INFO")
    body = await response.json()
    assert response.status == 500
    assert body == {"error": {"code": "internal_error", "message": "系统繁忙，请稍后再试"}}
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    [failure] = [entry for entry in lines if entry["msg"] == "unhandled error"]
    assert failure["request_id"] == "req-0000boom"
    assert "RuntimeError" in failure["exc"]
    assert "11010519491231002X" not in buffer.getvalue()
    assert "110105********002X" in failure["exc"]
    [access] = [entry for entry in lines if entry["msg"] == "request"]
    assert access["status"] == 500 and access["request_id"] == "req-0000boom"


async def test_outages_answer_503_with_a_code_naming_the_dependency(aiohttp_client, make_settings, database_url):
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from core.db import transaction
    from tests.processes import free_port

    async def uses_database(request: web.Request) -> web.Response:
        async with transaction(request.app) as session:
            await session.execute(text("SELECT 1"))
        return web.Response(text="ok")

    async def uses_state(request: web.Request) -> web.Response:
        await request.app[keys.STATE].get("anything")
        return web.Response(text="ok")

    down_db = make_url(database_url).set(port=free_port()).render_as_string(False)
    app = create_app(make_settings(database_url=down_db, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    app.router.add_get("/db", uses_database)
    app.router.add_get("/state", uses_state)
    client = await aiohttp_client(app)
    for path, code in (("/db", "database_unavailable"), ("/state", "state_store_unavailable")):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 503, path
        assert body["error"]["code"] == code
        assert "Traceback" not in await response.text()
