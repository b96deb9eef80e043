"""How JSON API handlers are declared: typed signatures validated by pydantic, one error format.

    @api
    async def deadline(request, from_: Annotated[date, Query("from")], working_days: int) -> r200[Deadline]:

Path parameters are positional-only, query parameters ordinary, headers keyword-only, and a
pydantic model parameter is the JSON body (aiohttp-pydantic's convention). The same signature
feeds the OpenAPI document, so the schema cannot drift from the code.
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Annotated, Any

import orjson
from aiohttp import web
from aiohttp_pydantic.decorator import inject_params
from pydantic import BaseModel, Field, ValidationError

from core.errors import InvalidInput

_WHERE = {"body": "请求内容", "query string": "查询参数", "headers": "请求头", "path": "路径参数"}

_MESSAGES = {
    "missing": "缺少必填项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "date_parsing": "应为日期，格式 YYYY-MM-DD",
    "date_from_datetime_parsing": "应为日期，格式 YYYY-MM-DD",
    "datetime_parsing": "应为时间，格式 YYYY-MM-DDTHH:MM:SS+08:00",
    "datetime_from_date_parsing": "应为时间，格式 YYYY-MM-DDTHH:MM:SS+08:00",
    "string_type": "应为文本",
    "json_invalid": "不是有效的 JSON",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "extra_forbidden": "是不认识的字段",
    "string_pattern_mismatch": "格式不正确",
}


# The most a PostgreSQL `integer` column (our ids, versions, counts) holds: a number above it
# fails in the query itself, so input bound for one is limited to it.
MAX_INTEGER = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]


def Query(name: str, **kwargs: Any) -> Any:  # noqa: N802 - reads like a type annotation
    """A query parameter whose wire name is not a Python name (e.g. `from`)."""
    return Field(alias=name, **kwargs)


def _describe(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in ("greater_than_equal", "greater_than"):
        return f"应不小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"应不大于 {ctx.get('le', ctx.get('lt'))}"
    if kind == "string_too_long":
        return f"最多 {ctx.get('max_length')} 个字符"
    if kind == "string_too_short":
        return f"至少 {ctx.get('min_length')} 个字符"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))  # pydantic's English: "'a', 'b' or 'c'"
        return "应为以下之一：" + ("、".join(re.findall(r"'([^']*)'", expected)) or expected)
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return "无效"


def translate_validation_error(error: ValidationError, where: str = "body") -> InvalidInput:
    """A pydantic error as one InvalidInput: a Chinese summary plus per-field details."""
    details = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"] if p != "__root__") or _WHERE.get(where, where)
        details.append({"field": field, "message": _describe(err)})
    summary = "；".join(f"{d['field']} {d['message']}" for d in details[:3])
    return InvalidInput(f"{_WHERE.get(where, '请求')}有误：{summary}", details=details)


async def _on_validation_error(error: ValidationError, context: str):
    raise translate_validation_error(error, context)


# Made in two steps: passing on_validation_error together with the handler is ignored.
_inject = inject_params.and_request(on_validation_error=_on_validation_error)


def _takes_body(handler) -> bool:
    hints = typing.get_type_hints(handler)
    return any(isinstance(hint, type) and issubclass(hint, BaseModel)
               for name, hint in hints.items() if name != "return")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


class NulCharacter(InvalidInput):
    """U+0000 anywhere in the input: PostgreSQL text cannot hold it, and no name, number or
    message of ours contains it, so it is refused up front rather than failing in a query."""

    code = "invalid_character"
    message = "请求中含有不允许的空字符（U+0000）"


async def _check_json_object(request: web.Request) -> None:
    """Refuse a body that is not a JSON object in our format, before aiohttp-pydantic answers
    in its own. The body is cached by aiohttp, so reading it here costs nothing later."""
    try:
        body = orjson.loads(await request.read() or b"null")
    except orjson.JSONDecodeError:
        raise InvalidInput("请求内容不是有效的 JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("请求内容应为 JSON 对象", code="invalid_json")
    if _has_nul(body):
        raise NulCharacter()


def api(handler):
    """Declare a JSON API handler (see the module docstring)."""
    wrapped = _inject(handler)
    takes_body = _takes_body(handler)

    @functools.wraps(wrapped)
    async def checked(request: web.Request):
        if _has_nul([*request.match_info.values(), *request.query.keys(), *request.query.values()]):
            raise NulCharacter()
        if takes_body:
            await _check_json_object(request)
        return await wrapped(request)

    return checked


class ErrorDetail(BaseModel):
    code: str = Field(description="稳定的错误代码，供程序判断")
    message: str = Field(description="给人看的中文说明")
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """Every error answer of the API has this shape."""

    error: ErrorDetail
