"""Middlewares every request passes: request id and access log, then the one error format."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import keys, metrics
from core.errors import HTTP_ERRORS, INTERNAL_ERROR, AppError, ServiceUnavailable
from core.logs import request_id_var

log = logging.getLogger("http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
REQUEST_ID_HEADER = "X-Request-Id"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with UTF-8 Chinese left readable (not \\u-escaped)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        charset="utf-8", headers=headers)


def error_response(code: str, message: str, status: int, details: Any = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json_response({"error": error}, status=status)


def client_address(request: web.Request) -> str:
    """The caller's address: the peer, or behind a trusted reverse proxy the last address in
    X-Forwarded-For that is not itself a trusted proxy (the earlier ones are the caller's to forge)."""
    peer = request.remote or ""
    trusted = request.app[keys.SETTINGS].trusted_proxies
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", ()) for hop in header.split(",")]
    for hop in reversed(hops):
        if hop and not _within(hop, trusted):
            return hop
    return peer


def _within(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Take the caller's X-Request-Id when sane, else make one; log one line per request."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        seconds = time.perf_counter() - started
        log.info("request", extra={"method": request.method, "path": request.path, "status": status,
                                   "ms": round(seconds * 1000, 2)})
        metrics.observe_request(request, status, seconds)
        request_id_var.reset(token)


def _is_database_outage(exc: BaseException) -> bool:
    # asyncpg's "connection refused" reaches us unwrapped, as the builtin ConnectionError.
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, ConnectionError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors and HTTP errors to the JSON format; log and hide anything unexpected."""
    try:
        return await handler(request)
    except AppError as exc:
        return json_response(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = HTTP_ERRORS.get(exc.status, ("http_error", exc.reason))
        response = error_response(code, message, exc.status)
        for name in ("Allow", "Location", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception as exc:  # noqa: BLE001 - the one place that catches everything
        if _is_database_outage(exc):
            log.error("database unavailable", exc_info=True)
            err = ServiceUnavailable("数据库暂时不可用，请稍后再试", code="database_unavailable")
            return json_response(err.body(), status=err.status)
        log.exception("unhandled error")
        return error_response(*INTERNAL_ERROR, status=500)
