"""The working-day calendar (工作日历): the one place that knows which days are worked.

Each year of the supported range (2000–2099) gets its schedule from one source:

1. chinesecalendar, for the years it covers: the State Council's published schedule, make-up
   working days (调休上班) included.  An override entry for such a year corrects single days.
2. an override entry in config/calendar_overrides.yaml, for a year chinesecalendar does not
   cover yet (the operator types in the newly announced schedule): it replaces prediction.
3. otherwise a prediction from the statutory rules (core.holiday_rules), marked unpublished so
   that every deadline depending on it is provisional.

Queries run per row in bulk jobs, so they are answered by bisecting a sorted list of the
ordinals of working days; nothing loops over days at query time.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

from core.calendar_overrides import FIRST_YEAR, LAST_YEAR, CalendarOverrides, load_overrides
from core.clock import SHANGHAI
from core.holiday_rules import SCHEDULE_ID, predict_days_off, published_schedules

MAX_WORKING_DAYS = 2000


class CalendarRangeError(ValueError):
    """A date or year outside the supported range 2000–2099."""

    def __init__(self) -> None:
        super().__init__("日期超出日历支持范围（2000–2099年）")


def _check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarRangeError()
    return year


# --- the calendar ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A 办理时限 deadline: 23:59:59 Asia/Shanghai of the due date."""

    due_date: date
    deadline: datetime
    provisional: bool
    calendar_version: str


@dataclass(frozen=True)
class _YearSchedule:
    days_off: dict[date, str]  # may include weekend days; never overlaps `workdays`
    workdays: dict[date, str]  # days worked although they may be weekends
    working: list[int]  # sorted ordinals of the year's working days
    working_set: frozenset[int]


class _Index(NamedTuple):
    """Working-day ordinals of the contiguous years lo..hi, built from the year schedules."""

    lo: int
    hi: int
    first: int  # ordinal of 1 January lo
    last: int  # ordinal of 31 December hi
    ordinals: list[int]


class WorkingCalendar:
    """Working days (工作日) per the State Council schedule, with overrides and prediction."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self.overrides = overrides or CalendarOverrides()
        if problems := self.overrides.problems():
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        digest = hashlib.sha256(self.overrides.canonical().encode()).hexdigest()[:8]
        self.version = f"{SCHEDULE_ID}-o{digest}"
        published_years = published_schedules()
        published = [
            year in published_years or (year in self.overrides.years and self.overrides.years[year].published)
            for year in range(FIRST_YEAR, LAST_YEAR + 1)
        ]
        # _unpublished_before[i]: unpublished years among FIRST_YEAR .. FIRST_YEAR + i - 1.
        self._published = published
        self._unpublished_before = [0]
        for flag in published:
            self._unpublished_before.append(self._unpublished_before[-1] + (not flag))
        # Both caches fill lazily; a race between threads only repeats work (plain assignments).
        self._years: dict[int, _YearSchedule] = {}
        self._index: _Index | None = None

    @classmethod
    def load(cls, overrides_path: Path | None) -> WorkingCalendar:
        """A calendar with the override file applied (None or a missing file: no overrides)."""
        if overrides_path is None or not Path(overrides_path).exists():
            return cls()
        return cls(load_overrides(Path(overrides_path)))

    # --- per-year schedules

    def _year(self, year: int) -> _YearSchedule:
        schedule = self._years.get(year)
        if schedule is None:
            schedule = self._years[year] = self._build_year(_check_year(year))
        return schedule

    def _build_year(self, year: int) -> _YearSchedule:
        entry = self.overrides.years.get(year)
        if (published := published_schedules().get(year)) is not None:
            days_off, workdays = dict(published[0]), dict(published[1])
        elif entry is not None:
            days_off, workdays = {}, {}  # the entry is the whole schedule
        else:
            days_off, workdays = predict_days_off(year), {}
        if entry is not None:  # the entry's days win over any other source
            for day, name in entry.named_days("holidays").items():
                workdays.pop(day, None)
                days_off[day] = name
            for day, name in entry.named_days("workdays").items():
                days_off.pop(day, None)
                workdays[day] = name
        working = []
        for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1):
            day = date.fromordinal(ordinal)
            if day in workdays or (day.weekday() < 5 and day not in days_off):
                working.append(ordinal)
        return _YearSchedule(days_off, workdays, working, frozenset(working))

    def _covering(self, lo: int, hi: int) -> _Index:
        """The index, widened if needed to cover the years lo..hi."""
        index = self._index
        if index is not None:
            if index.lo <= lo and hi <= index.hi:
                return index
            lo, hi = min(lo, index.lo), max(hi, index.hi)
        ordinals = [o for year in range(_check_year(lo), _check_year(hi) + 1) for o in self._year(year).working]
        index = _Index(lo, hi, date(lo, 1, 1).toordinal(), date(hi, 12, 31).toordinal(), ordinals)
        self._index = index
        return index

    # --- queries

    def is_working_day(self, d: date) -> bool:
        """Whether `d` is a working day."""
        return d.toordinal() in self._year(d.year).working_set

    def is_published(self, year: int) -> bool:
        """Whether the year's schedule is the announced one (chinesecalendar or a published entry)."""
        return self._published[_check_year(year) - FIRST_YEAR]

    def add_working_days(self, start: date, n: int) -> date:
        """The nth working day after `start` (`start` itself is not counted); n == 0 gives `start`."""
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"工作日数须在 0 到 {MAX_WORKING_DAYS} 之间")
        ordinal = start.toordinal()
        index = self._index
        if index is None or not index.first <= ordinal <= index.last:
            index = self._covering(start.year, start.year)
        if n == 0:
            return start
        while True:
            position = bisect_right(index.ordinals, ordinal) + n - 1
            if position < len(index.ordinals):
                return date.fromordinal(index.ordinals[position])
            # The answer lies past the covered years: widen by a year and look again.
            if index.hi == LAST_YEAR:
                raise CalendarRangeError()
            index = self._covering(index.lo, index.hi + 1)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative, with the same magnitude, when end < start."""
        s, e = start.toordinal(), end.toordinal()
        index = self._index
        if index is None or not (index.first <= s <= index.last and index.first <= e <= index.last):
            index = self._covering(min(start.year, end.year), max(start.year, end.year))
        return bisect_right(index.ordinals, e) - bisect_right(index.ordinals, s)

    def is_provisional(self, start: date, end: date) -> bool:
        """Whether any day between the two dates (the earlier excluded) lies in an unpublished year."""
        lo, hi = (start, end) if start <= end else (end, start)
        if lo.year < FIRST_YEAR or hi.year > LAST_YEAR:
            raise CalendarRangeError()
        if lo == hi:
            return False
        # The earlier day is excluded, so from 31 December the interval starts a year later.
        first_year = lo.year + 1 if (lo.month, lo.day) == (12, 31) else lo.year
        counts = self._unpublished_before
        return counts[hi.year - FIRST_YEAR + 1] != counts[first_year - FIRST_YEAR]

    def deadline(self, accepted_on: date, working_days: int) -> Deadline:
        """The deadline of something accepted on `accepted_on` with `working_days` to handle it."""
        due = self.add_working_days(accepted_on, working_days)
        return Deadline(
            due_date=due,
            deadline=datetime(due.year, due.month, due.day, 23, 59, 59, tzinfo=SHANGHAI),
            provisional=self.is_provisional(accepted_on, due),
            calendar_version=self.version,
        )

    def holidays(self, year: int) -> list[tuple[date, str]]:
        """The year's days off that fall on weekdays, with their festival names, in date order."""
        schedule = self._year(year)
        return sorted((d, name) for d, name in schedule.days_off.items() if d.weekday() < 5)

    def makeup_workdays(self, year: int) -> list[date]:
        """The year's make-up working days (调休上班): weekends that are worked, in date order."""
        return sorted(d for d in self._year(year).workdays if d.weekday() >= 5)
