"""Structured JSON logs with the request id, and personal data masked in every line."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import traceback
from datetime import datetime
from typing import Any

import orjson

from core.clock import SHANGHAI
from core.identity import mask_personal_data

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# WeChat's API takes its credentials in the query string, and HTTP libraries log request URLs at
# DEBUG (urllib3: "GET /sns/jscode2session?appid=…&secret=…"): those values never reach a line.
_URL_CREDENTIALS = re.compile(r"(?i)(secret|access_token|js_code)=[^&\s\"'\\]+")
_CREDENTIAL_NAMES = ("secret=", "access_token=", "js_code=")

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class MaskingFilter(logging.Filter):
    """Masks ID and phone numbers in the message, its arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_personal_data(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS and isinstance(value, str):
                setattr(record, key, mask_personal_data(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, SHANGHAI).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key != "request_id":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        # Mask the finished line too: tracebacks and reprs can carry numbers the filter never saw.
        line = orjson.dumps(entry, default=str).decode()
        if any(name in line.lower() for name in _CREDENTIAL_NAMES):  # the pattern is slow; most lines have none
            line = _URL_CREDENTIALS.sub(r"\1=***", line)
        return mask_personal_data(line)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route all logging to one JSON handler on stdout (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_structured_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler._structured_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    root.setLevel(level)
