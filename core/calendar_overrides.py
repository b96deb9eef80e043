"""The calendar override file (config/calendar_overrides.yaml): models, checks and loading.

Operators type in a newly announced year's schedule, or correct single days, here; see the
file's own header for the format. Mistakes are reported with the file's name and the line.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.datafile import DataFileError, line_of, read_yaml

FIRST_YEAR, LAST_YEAR = 2000, 2099



class DaySpan(BaseModel):
    """One named day (`date`) or an inclusive range of days (`from` .. `to`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    on: date | None = Field(None, alias="date")
    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> DaySpan:
        if (self.on is None) == (self.start is None and self.end is None):
            raise ValueError("须写 date，或同时写 from 和 to（二选一）")
        if self.on is None and (self.start is None or self.end is None):
            raise ValueError("from 和 to 须同时给出")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"from {self.start} 晚于 to {self.end}")
        return self

    def days(self) -> list[date]:
        """Every date of the span, in order."""
        if self.on is not None:
            return [self.on]
        assert self.start is not None and self.end is not None
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


class YearOverride(BaseModel):
    """One year's schedule as announced (published) or as the operator expects it."""

    model_config = ConfigDict(extra="forbid")

    published: bool = True
    source: str | None = None
    holidays: list[DaySpan] = []  # days off
    workdays: list[DaySpan] = []  # make-up working days on weekends (调休上班)

    def named_days(self, kind: str) -> dict[date, str]:
        """`holidays` or `workdays` expanded to single dates (a later listing wins)."""
        spans: list[DaySpan] = getattr(self, kind)
        return {day: span.name for span in spans for day in span.days()}


class CalendarOverrides(BaseModel):
    """The content of config/calendar_overrides.yaml."""

    model_config = ConfigDict(extra="forbid")

    years: dict[int, YearOverride] = {}

    def problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Checks across fields, as (location, message) pairs; empty when the file is sound."""
        found: list[tuple[tuple[int | str, ...], str]] = []
        for year, entry in self.years.items():
            if not FIRST_YEAR <= year <= LAST_YEAR:
                found.append((("years", year), f"年份 {year} 超出日历支持范围（2000–2099年）"))
                continue
            for kind in ("holidays", "workdays"):
                for i, span in enumerate(getattr(entry, kind)):
                    if any(day.year != year for day in span.days()):
                        found.append((("years", year, kind, i), f"日期不在 {year} 年内"))
            holidays = entry.named_days("holidays")
            for i, span in enumerate(entry.workdays):
                for day in span.days():
                    if day in holidays:
                        found.append((("years", year, "workdays", i), f"{day} 同时列为放假日和上班日"))
        return found

    def canonical(self) -> str:
        """The overrides as the calendar applies them, as stable JSON (for the version hash)."""
        data = {
            str(year): {
                "published": entry.published,
                "source": entry.source,
                "holidays": sorted((d.isoformat(), n) for d, n in entry.named_days("holidays").items()),
                "workdays": sorted((d.isoformat(), n) for d, n in entry.named_days("workdays").items()),
            }
            for year, entry in self.years.items()
        }
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def load_overrides(path: Path) -> CalendarOverrides:
    """Read and validate an override file; DataFileError names the file and the line."""
    document = read_yaml(path)
    if document is None:  # an empty file holds no overrides
        return CalendarOverrides()
    try:
        overrides = CalendarOverrides.model_validate(document)
        problems = overrides.problems()
    except ValidationError as exc:
        problems = [(tuple(err["loc"]), err["msg"]) for err in exc.errors()]
    if problems:
        described = []
        for loc, message in problems:
            line = line_of(document, loc)
            field = ".".join(str(part) for part in loc) or "(document)"
            described.append(f"{f'line {line}: ' if line else ''}{field}: {message}")
        raise DataFileError(path, described)
    return overrides
