"""Understanding (意图识别) for the search box and for other channels: POST /api/v1/nlu/parse."""

from __future__ import annotations

from datetime import date
from typing import Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400
from pydantic import BaseModel, Field

from core import keys
from core.api import ErrorBody, api
from core.web import json_response
from intents.model import Intent


class ParseRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000, description="用户输入的原文")


class TargetOut(BaseModel):
    kind: Literal["scenario", "item"]
    id: str = Field(description="场景 id 或事项编码")
    name: str
    score: float = Field(description="与输入的匹配程度，0–1")


class DateOut(BaseModel):
    text: str = Field(description="原文中的说法，如“上周”“11月5日”")
    start: date
    end: date = Field(description="单日时与 start 相同")


class EntitiesOut(BaseModel):
    application_no: str | None = Field(description="办件编号 SX+14位数字")
    ticket_no: str | None = Field(description="工单编号 GD+14位数字")
    phone: str | None = Field(description="手机号")
    id_number: str | None = Field(description="身份证号（仅返回脱敏形式）")
    dates: list[DateOut]


class ReadingOut(BaseModel):
    intent: Intent
    confidence: float
    target: TargetOut | None


class ParseOut(ReadingOut):
    entities: EntitiesOut
    alternatives: list[ReadingOut] = Field(description="相近的其他理解，可据此向用户追问")


@api
async def parse(request: web.Request, body: ParseRequest) -> r200[ParseOut] | r400[ErrorBody]:
    """What a message means: intent, confidence, target (for guide) and entities.

    置信度低于阈值时为 out_of_scope，并在 alternatives 中给出可能的理解；身份证号只返回脱敏形式。
    """
    app = request.app
    result = app[keys.UNDERSTAND](body.text, app[keys.INTENT_MODEL], app[keys.KNOWLEDGE_BASE].current,
                                  app[keys.CLOCK].today())
    return json_response(result.as_dict())


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/nlu/parse", parse)
