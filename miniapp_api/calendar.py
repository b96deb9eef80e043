"""Promised dates in working days, as the citizen sees them (承诺办结时间)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400
from pydantic import BaseModel, Field

from core import keys
from core.api import ErrorBody, Query, api
from core.calendar import CalendarRangeError
from core.errors import InvalidInput
from core.web import json_response


class DeadlineOut(BaseModel):
    due_date: date = Field(description="到期日（第 N 个工作日）")
    deadline: datetime = Field(description="到期时刻：到期日 23:59:59（北京时间）")
    provisional: bool = Field(description="为 true 时，计算用到了尚未公布放假安排的年份，日期为预测值")
    calendar_version: str = Field(description="所用工作日历的版本")


@api
async def deadline(
    request: web.Request,
    from_: Annotated[date, Query("from", description="起算日期（受理当日，不计入）")],
    working_days: Annotated[int, Field(ge=0, le=2000, description="工作日数")],
) -> r200[DeadlineOut] | r400[ErrorBody]:
    """The deadline N working days after a date.

    受理当日不计入；到期时刻为第 N 个工作日的 23:59:59（北京时间）。法定节假日与调休上班日按国务院
    公布的安排；尚未公布的年份按《全国年节及纪念日放假办法》预测，结果标记为 provisional。
    """
    try:
        result = request.app[keys.CALENDAR].current.deadline(from_, working_days)
    except CalendarRangeError as exc:
        raise InvalidInput(str(exc), code="date_out_of_range") from None
    return json_response(DeadlineOut.model_validate(result, from_attributes=True).model_dump(mode="json"))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/calendar/deadline", deadline, allow_head=False)
