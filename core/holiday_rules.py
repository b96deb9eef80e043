"""Days off as the State Council sets them: published schedules, or predicted ones.

Published schedules come from chinesecalendar, which tracks the State Council's yearly notices
(国务院办公厅关于某年部分节假日安排的通知), make-up working days (调休上班) included.

A year it does not cover is predicted from 《全国年节及纪念日放假办法》 as revised in 2024 (in
force from 2025):

- 元旦 January 1 (1 day); 春节 除夕 and 正月初一、初二、初三 (4 days); 清明节 the day of the
  清明 solar term (1 day); 劳动节 May 1–2 (2 days); 端午节 lunar 5/5 (1 day); 中秋节 lunar 8/15
  (1 day); 国庆节 October 1–3 (3 days).
- Article 6: a holiday that falls on a Saturday or Sunday is compensated (补假) on a working day.

What cannot be predicted is left out: the State Council's make-up working days (调休上班) and the
way it stitches holidays and weekends into longer breaks. A predicted year is therefore only an
approximation, and every deadline that depends on it is marked provisional.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import chinese_calendar
from lunar_python import Lunar, Solar

# Identifies this rule set inside WorkingCalendar.version; change it whenever the rules change,
# so that deadlines computed under the old rules are recognisably stale.
RULES_ID = "r2025"
# The published data and the prediction rules together; WorkingCalendar.version starts with it.
SCHEDULE_ID = f"cc{chinese_calendar.__version__}-{RULES_ID}"

_ONE_DAY = timedelta(days=1)

# chinesecalendar abbreviates some festival names; use the names of the statutory rules.
_FULL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}

DayNames = dict[date, str]


@cache
def published_schedules() -> dict[int, tuple[DayNames, DayNames]]:
    """chinesecalendar's (days off, make-up working days) per year it covers.

    The covered years are those from the first to the last year of its holiday table.
    Treat the result as read-only: it is shared.
    """
    first = min(day.year for day in chinese_calendar.holidays)
    last = max(day.year for day in chinese_calendar.holidays)
    years: dict[int, tuple[DayNames, DayNames]] = {year: ({}, {}) for year in range(first, last + 1)}
    for slot, table in enumerate((chinese_calendar.holidays, chinese_calendar.workdays)):
        for day, value in table.items():
            if day.year in years:
                chinese = chinese_calendar.Holiday(value).chinese
                years[day.year][slot][day] = _FULL_NAMES.get(chinese, chinese)
    return years


def _to_date(solar: Solar) -> date:
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _lunar_to_date(year: int, month: int, day: int) -> date:
    return _to_date(Lunar.fromYmd(year, month, day).getSolar())


def statutory_days(year: int) -> list[tuple[date, str]]:
    """The statutory holiday days of `year` in date order, before any 补假.

    A date may appear twice when two festivals coincide (中秋 on 1 October, as in 2020).
    """
    new_year = _lunar_to_date(year, 1, 1)  # 正月初一, always in January or February
    # 除夕 is the day before 正月初一; computing it that way avoids asking whether lunar
    # month 12 of the previous year has 29 or 30 days.
    spring = [new_year - _ONE_DAY + timedelta(days=i) for i in range(4)]
    qingming = _to_date(Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"])
    if (qingming.year, qingming.month) != (year, 4):
        raise RuntimeError(f"清明 {qingming} is not in April {year}")

    # Fixed-date festivals come first so that, when a lunar festival falls on the same day
    # (the sort below is stable), the lunar one is the day that gets compensated.
    days = [
        (date(year, 1, 1), "元旦"),
        (date(year, 5, 1), "劳动节"),
        (date(year, 5, 2), "劳动节"),
        (date(year, 10, 1), "国庆节"),
        (date(year, 10, 2), "国庆节"),
        (date(year, 10, 3), "国庆节"),
    ]
    days += [(d, "春节") for d in spring]
    days += [
        (qingming, "清明节"),
        (_lunar_to_date(year, 5, 5), "端午节"),
        (_lunar_to_date(year, 8, 15), "中秋节"),
    ]
    return sorted(days, key=lambda item: item[0])


def predict_days_off(year: int) -> dict[date, str]:
    """Predicted days off of `year` beyond plain weekends, each with its festival's name.

    A statutory day that falls on a weekend, or on a day already taken by another festival,
    is compensated on the next weekday that is not already off (Article 6).  All weekday
    holidays are placed first, so a compensation day never lands on another festival: e.g.
    国庆 2027 is Fri 1 – Sun 3 October; the Saturday and the Sunday are compensated on Monday 4
    and Tuesday 5 October, giving 1–5 October off.
    """
    days = statutory_days(year)
    off: dict[date, str] = {}
    displaced: list[tuple[date, str]] = []
    for day, name in days:
        if day.weekday() < 5 and day not in off:
            off[day] = name
        else:
            displaced.append((day, name))
    for day, name in displaced:
        substitute = day + _ONE_DAY
        while substitute.weekday() >= 5 or substitute in off:
            substitute += _ONE_DAY
        off[substitute] = f"{name}（补假）"
    # The weekend festival days themselves are days off too; keep their names for listings.
    for day, name in days:
        off.setdefault(day, name)
    return off
