"""Domain errors and the one JSON error format: {"error": {"code": "...", "message": "..."}}.

Feature packages raise subclasses of AppError (with a stable `code` and a Chinese message);
`core.web.error_middleware` turns them, and everything unexpected, into HTTP answers.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error the caller should see. `code` is stable; `message` is Chinese, for people."""

    status = 400
    code = "bad_request"
    message = "请求有误"

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None,
                 details: Any = None):
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidInput(AppError):
    status = 400
    code = "invalid_input"
    message = "请求参数有误"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "请先登录"


class NotFound(AppError):
    """Also what a resource that exists but is not the caller's answers (never 403)."""

    status = 404
    code = "not_found"
    message = "未找到相应内容"


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "当前状态下不能进行此操作"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "操作过于频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    message = "服务暂时不可用，请稍后再试"


# Answers for HTTP-level errors that aiohttp raises before any handler runs.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式有误"),
    404: ("not_found", "未找到相应内容"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}
INTERNAL_ERROR = ("internal_error", "系统繁忙，请稍后再试")
