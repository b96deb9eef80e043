"""Dates in what citizens write: 11月5日, 2026-11-05, 昨天, 上周三, 三天前, 上个月.

Each mention becomes a range of days (a single day has start == end), resolved against
"today" from the service's clock, so 上周 on Saturday 2026-11-21 is 11-09…11-15. A month and
day without a year take the year that puts the date nearest to today: 12月28日 written in
January is last December's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_DAY_WORDS = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1, "明日": 1,
              "后天": 2, "大后天": 3}
_WEEK_WORDS = {"上上周": -2, "上上个星期": -2, "上周": -1, "上个星期": -1, "上星期": -1, "上个礼拜": -1, "上礼拜": -1,
               "本周": 0, "这周": 0, "这个星期": 0, "这星期": 0, "这礼拜": 0, "这个礼拜": 0,
               "下周": 1, "下个星期": 1, "下星期": 1, "下个礼拜": 1, "下礼拜": 1}
_WEEK_PREFIX = {"上上个": -2, "上上": -2, "上个": -1, "上": -1, "这个": 0, "这": 0, "本": 0, "下个": 1, "下": 1}
_MONTH_WORDS = {"上上个月": -2, "上个月": -1, "上月": -1, "本月": 0, "这个月": 0, "下个月": 1, "下月": 1}
_YEAR_WORDS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}


def _alternation(words) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_PATTERN = re.compile(
    rf"(?P<ymd>(?P<y1>\d{{4}})[-/.](?P<m1>\d{{1,2}})[-/.](?P<d1>\d{{1,2}}))(?!\d)"
    rf"|(?P<cn>(?:(?P<y2>\d{{4}})年)?(?P<m2>{_NUM})月(?:(?P<d2>{_NUM})[日号]?)?)"
    rf"|(?P<ago>(?P<n>{_NUM}|半)(?P<unit>天|周|个星期|个礼拜|个月)(?P<dir>前|以前|之前|后|以后|之后))"
    rf"|(?P<weekday>(?P<wrel>{_alternation(_WEEK_PREFIX)})?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天末]))"
    rf"|(?P<week>{_alternation(_WEEK_WORDS)})"
    rf"|(?P<month>{_alternation(_MONTH_WORDS)})"
    rf"|(?P<year>{_alternation(_YEAR_WORDS)})"
    rf"|(?P<day>{_alternation(_DAY_WORDS)})"
)


@dataclass(frozen=True)
class DateMention:
    text: str
    start: date
    end: date


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "半":
        return 0
    tens, _, ones = text.partition("十")
    if "十" not in text:
        return _DIGITS[text] if len(text) == 1 else int("".join(str(_DIGITS[c]) for c in text))
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)


def _month_range(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _shift_month(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _nearest(today: date, month: int, day: int | None) -> tuple[date, date] | None:
    """The month (and day) in the year that puts it nearest to today."""
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            start, end = (date(year, month, day),) * 2 if day else _month_range(year, month)
        except ValueError:
            continue
        distance = 0 if start <= today <= end else min(abs((start - today).days), abs((end - today).days))
        candidates.append((distance, start, end))
    return min(candidates)[1:] if candidates else None


def _resolve(match: re.Match, today: date) -> tuple[date, date] | None:
    g = match.groupdict()
    if g["ymd"]:
        day = date(int(g["y1"]), int(g["m1"]), int(g["d1"]))
        return day, day
    if g["cn"]:
        month, day = _number(g["m2"]), _number(g["d2"]) if g["d2"] else None
        if g["y2"]:
            return (date(int(g["y2"]), month, day),) * 2 if day else _month_range(int(g["y2"]), month)
        return _nearest(today, month, day)
    if g["ago"]:
        n, sign = _number(g["n"]), (-1 if g["dir"].endswith("前") else 1)
        if g["unit"] == "个月":
            if g["n"] == "半":
                day = today + timedelta(days=15 * sign)
                return day, day
            year, month = _shift_month(today, sign * n)
            return _month_range(year, month)
        days = n * (7 if g["unit"] != "天" else 1) or (3 if g["unit"] != "天" else 0)  # 半周 ≈ three days
        day = today + timedelta(days=sign * days)
        return day, day
    if g["weekday"]:
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=_WEEK_PREFIX.get(g["wrel"] or "本"))
        if g["wd"] == "末":  # 周末: Saturday and Sunday
            return monday + timedelta(days=5), monday + timedelta(days=6)
        day = monday + timedelta(days=_WEEKDAY[g["wd"]])
        return day, day
    if g["week"]:
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=_WEEK_WORDS[g["week"]])
        return monday, monday + timedelta(days=6)
    if g["month"]:
        return _month_range(*_shift_month(today, _MONTH_WORDS[g["month"]]))
    if g["year"]:
        year = today.year + _YEAR_WORDS[g["year"]]
        return date(year, 1, 1), date(year, 12, 31)
    day = today + timedelta(days=_DAY_WORDS[g["day"]])
    return day, day


def find_dates(text: str, today: date) -> list[DateMention]:
    """Every date or relative date in `text` (already NFKC-normalised), in order of appearance.
    A mention that names no real day (2月30日, 13月) is left out."""
    mentions = []
    for match in _PATTERN.finditer(text):
        try:
            resolved = _resolve(match, today)
        except (ValueError, KeyError, OverflowError):
            resolved = None
        if resolved is not None:
            mentions.append(DateMention(match.group(0), *resolved))
    return mentions
