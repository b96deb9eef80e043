"""/healthz (the process answers) and /readyz (its database and state store answer)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from core import keys
from core.migrate import current_revision, head_revision
from core.web import json_response

CHECK_TIMEOUT = 2.0
_HEAD = web.AppKey("migration_head", str)  # the revision this code expects the database at


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _check_database(app: web.Application) -> str | None:
    engine = app[keys.ENGINE]
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    if await current_revision(engine) != app[_HEAD]:
        return "数据库结构不是最新版本，请运行 python server.py migrate"
    return None


async def _check_state_store(app: web.Application) -> str | None:
    await app[keys.STATE].ping()
    return None


_CHECKS = {"database": (_check_database, "数据库不可用"), "state_store": (_check_state_store, "状态存储（Redis）不可用")}


async def _run(app: web.Application, name: str) -> tuple[str, str | None]:
    check, unavailable = _CHECKS[name]
    try:
        return name, await asyncio.wait_for(check(app), CHECK_TIMEOUT)
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is in the answer
        return name, unavailable


async def readyz(request: web.Request) -> web.Response:
    """200 when every dependency answers; else 503 naming each one that did not."""
    results = dict(await asyncio.gather(*(_run(request.app, name) for name in _CHECKS)))
    failed = {name: problem for name, problem in results.items() if problem}
    checks = {name: results[name] or "ok" for name in _CHECKS}
    if not failed:
        return json_response({"status": "ok", "checks": checks})
    message = "；".join(failed.values())
    return json_response({"status": "unavailable", "checks": checks,
                          "error": {"code": "not_ready", "message": message, "failed": sorted(failed)}}, status=503)


def setup(app: web.Application) -> None:
    app[_HEAD] = head_revision()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
