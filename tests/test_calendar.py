"""Unit tests for the working-day calendar (core.calendar, core.holiday_rules)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from lunar_python import Solar

from core.calendar import CalendarRangeError, WorkingCalendar
from core.datafile import DataFileError
from core.holiday_rules import statutory_days

SHIPPED_OVERRIDES = Path(__file__).resolve().parent.parent / "config" / "calendar_overrides.yaml"

OVERRIDE_2027 = """\
years:
  2027:
    source: 国办发明电〔2026〕X号
    holidays:
      - {date: 2027-01-01, name: 元旦}
      - {from: 2027-02-05, to: 2027-02-13, name: 春节}
    workdays:
      - {date: 2027-02-20, name: 春节调休}
"""


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- published schedule (chinesecalendar) ------------------------------------------------------


def test_national_day_2026(calendar: WorkingCalendar) -> None:
    # 10-01..10-07 off; 10-08 Thu (1), 10-09 Fri (2), 10-10 Sat make-up day (3), 10-12 Mon (4),
    # 10-13 Tue (5).
    result = calendar.deadline(date(2026, 9, 30), 5)
    assert result.due_date == date(2026, 10, 13)
    assert result.deadline.isoformat() == "2026-10-13T23:59:59+08:00"
    assert str(result.deadline.tzinfo) == "Asia/Shanghai"
    assert result.provisional is False
    assert result.calendar_version == calendar.version
    assert calendar.is_working_day(date(2026, 9, 20))  # Sunday, make-up working day
    assert calendar.is_working_day(date(2026, 10, 10))  # Saturday, make-up working day
    assert not calendar.is_working_day(date(2026, 10, 7))


def test_spring_festival_2026(calendar: WorkingCalendar) -> None:
    # Accepted Fri 2026-02-13. 02-14 Sat make-up day (1); 02-15..02-23 off; 02-24 Tue (2),
    # 02-25 Wed (3), 02-26 Thu (4), 02-27 Fri (5).  (02-28 Sat is a make-up day too, not needed.)
    result = calendar.deadline(date(2026, 2, 13), 5)
    assert result.due_date == date(2026, 2, 27)
    assert result.provisional is False
    assert calendar.add_working_days(date(2026, 2, 13), 6) == date(2026, 2, 28)


def test_matches_chinesecalendar_on_every_covered_day(calendar: WorkingCalendar) -> None:
    day = date(2004, 1, 1)
    while day.year <= 2026:
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_holidays_and_makeup_days_listing(calendar: WorkingCalendar) -> None:
    holidays = dict(calendar.holidays(2026))
    assert holidays[date(2026, 10, 1)] == "国庆节"
    assert holidays[date(2026, 4, 6)] == "清明节"
    assert all(d.weekday() < 5 for d in holidays)
    assert date(2026, 10, 3) not in holidays  # a Saturday: off, but a weekend
    assert calendar.makeup_workdays(2026) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]
    assert calendar.makeup_workdays(2027) == []  # cannot be predicted


# --- predicted years ---------------------------------------------------------------------------


def test_year_end_into_predicted_2027_is_provisional(calendar: WorkingCalendar) -> None:
    # From Mon 2026-12-21: 12-22..12-25 (4), 12-28..12-31 (8), 2027-01-01 Fri predicted off,
    # 01-04..01-08 (13), 01-11 (14), 01-12 (15).
    result = calendar.deadline(date(2026, 12, 21), 15)
    assert result.due_date == date(2027, 1, 12)
    assert result.provisional is True
    assert calendar.deadline(date(2026, 12, 1), 15).due_date.year == 2026
    assert calendar.deadline(date(2026, 12, 1), 15).provisional is False


def test_predicted_2027_festivals(calendar: WorkingCalendar) -> None:
    # 除夕 is the last day of the lunar year, 初一 the first of the next one.
    assert Solar.fromYmd(2027, 2, 6).getLunar().getMonth() == 1
    assert Solar.fromYmd(2027, 2, 6).getLunar().getDay() == 1
    assert Solar.fromYmd(2027, 2, 5).getLunar().getMonth() == 12
    # 春节 2027: 除夕 Fri 02-05, 初一 Sat 02-06, 初二 Sun 02-07, 初三 Mon 02-08; the two weekend
    # days are compensated on Tue 02-09 and Wed 02-10.
    # 劳动节 Sat 05-01 and Sun 05-02 → Mon 05-03 and Tue 05-04.
    # 国庆 Fri 10-01, Sat 10-02, Sun 10-03: Article 6 compensates each weekend holiday day on a
    # working day, so Sat → Mon 10-04 and Sun → Tue 10-05 (two days, not one: two statutory days
    # were lost to the weekend).
    assert calendar.holidays(2027) == [
        (date(2027, 1, 1), "元旦"),
        (date(2027, 2, 5), "春节"),
        (date(2027, 2, 8), "春节"),
        (date(2027, 2, 9), "春节（补假）"),
        (date(2027, 2, 10), "春节（补假）"),
        (date(2027, 4, 5), "清明节"),
        (date(2027, 5, 3), "劳动节（补假）"),
        (date(2027, 5, 4), "劳动节（补假）"),
        (date(2027, 6, 9), "端午节"),
        (date(2027, 9, 15), "中秋节"),
        (date(2027, 10, 1), "国庆节"),
        (date(2027, 10, 4), "国庆节（补假）"),
        (date(2027, 10, 5), "国庆节（补假）"),
    ]
    assert calendar.is_working_day(date(2027, 10, 6))
    assert calendar.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 6)
    assert not calendar.is_published(2027)


def test_mid_autumn_on_national_day_is_compensated() -> None:
    # 2031: 中秋 falls on Wed 10-01, the same day as 国庆; the day it loses is compensated on the
    # next weekday not already off: Mon 10-06.
    days = WorkingCalendar().holidays(2031)
    assert [d for d, _ in days if d.month == 10] == [
        date(2031, 10, 1), date(2031, 10, 2), date(2031, 10, 3), date(2031, 10, 6),
    ]
    assert dict(days)[date(2031, 10, 6)] == "中秋节（补假）"


def test_every_predicted_year_has_thirteen_statutory_days() -> None:
    for year in [*range(2000, 2004), *range(2027, 2100)]:
        days = statutory_days(year)
        assert len(days) == 13, year  # 1 + 4 + 1 + 2 + 1 + 1 + 3
        qingming = next(d for d, name in days if name == "清明节")
        assert qingming.month == 4 and 4 <= qingming.day <= 6, year
        assert all(d.year == year for d, _ in days), year


def test_published_years(calendar: WorkingCalendar) -> None:
    assert calendar.is_published(2004) and calendar.is_published(2026)
    assert not calendar.is_published(2003) and not calendar.is_published(2027)


def test_is_provisional_interval(calendar: WorkingCalendar) -> None:
    assert calendar.is_provisional(date(2026, 12, 31), date(2027, 1, 1))
    assert calendar.is_provisional(date(2027, 1, 1), date(2026, 12, 31))  # symmetric
    assert not calendar.is_provisional(date(2027, 1, 1), date(2027, 1, 1))  # empty interval
    # (2003-12-31, 2004-01-01] holds only a 2004 day: the unpublished start is not counted.
    assert not calendar.is_provisional(date(2003, 12, 31), date(2004, 1, 1))
    assert calendar.is_provisional(date(2003, 12, 30), date(2004, 1, 1))


# --- overrides ---------------------------------------------------------------------------------


def test_shipped_override_file_changes_nothing(calendar: WorkingCalendar) -> None:
    shipped = WorkingCalendar.load(SHIPPED_OVERRIDES)
    assert shipped.version == calendar.version
    assert WorkingCalendar.load(None).version == calendar.version
    assert WorkingCalendar.load(SHIPPED_OVERRIDES.parent / "missing.yaml").version == calendar.version
    assert shipped.holidays(2027) == calendar.holidays(2027)
    assert calendar.version.startswith(f"cc{chinese_calendar.__version__}-r2025-o")


def test_override_for_2027_changes_answer_and_version(tmp_path: Path, calendar: WorkingCalendar) -> None:
    overridden = WorkingCalendar.load(write(tmp_path, OVERRIDE_2027))
    # Predicted: 02-05..02-10 off, so one working day after 02-04 is Thu 02-11.  Announced:
    # 02-05..02-13 off, 02-14 is a Sunday, so it is Mon 02-15.
    assert calendar.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 11)
    assert overridden.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 15)
    assert overridden.is_working_day(date(2027, 2, 20))  # Saturday make-up day
    # The entry replaces the prediction: the predicted 国庆 补假 is gone.
    assert overridden.is_working_day(date(2027, 10, 4))
    assert overridden.is_published(2027)
    assert overridden.deadline(date(2026, 12, 21), 15).provisional is False
    assert overridden.version != calendar.version
    again = WorkingCalendar.load(write(tmp_path, OVERRIDE_2027, "copy.yaml"))
    assert again.version == overridden.version


def test_same_days_written_differently_give_same_version(tmp_path: Path) -> None:
    as_range = "years:\n  2027:\n    holidays:\n      - {from: 2027-01-01, to: 2027-01-02, name: 元旦}\n"
    as_days = (
        "years:\n  2027:\n    holidays:\n"
        "      - {date: 2027-01-02, name: 元旦}\n      - {date: 2027-01-01, name: 元旦}\n"
    )
    first = WorkingCalendar.load(write(tmp_path, as_range, "a.yaml"))
    second = WorkingCalendar.load(write(tmp_path, as_days, "b.yaml"))
    renamed = WorkingCalendar.load(write(tmp_path, as_days.replace("元旦", "新年"), "c.yaml"))
    assert first.version == second.version
    assert renamed.version != first.version


def test_unpublished_entry_stays_provisional(tmp_path: Path) -> None:
    text = "years:\n  2027:\n    published: false\n    holidays:\n      - {date: 2027-01-04, name: 估计}\n"
    estimated = WorkingCalendar.load(write(tmp_path, text))
    assert not estimated.is_working_day(date(2027, 1, 4))
    assert estimated.is_working_day(date(2027, 1, 1))  # the entry replaced the prediction
    assert estimated.deadline(date(2026, 12, 31), 1).provisional is True


def test_override_corrects_a_covered_year(tmp_path: Path) -> None:
    text = (
        "years:\n  2026:\n    published: false\n"
        "    holidays:\n      - {date: 2026-12-31, name: 跨年}\n"
        "    workdays:\n      - {date: 2026-10-07, name: 改为上班}\n"
    )
    corrected = WorkingCalendar.load(write(tmp_path, text))
    assert not corrected.is_working_day(date(2026, 12, 31))
    assert corrected.is_working_day(date(2026, 10, 7))
    assert corrected.is_working_day(date(2026, 10, 10))  # the rest of chinesecalendar stays
    assert corrected.is_published(2026)  # chinesecalendar's year stays published


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("years:\n  2027:\n    holidays:\n      - {date: 2027-01-01, name: 元旦}\n"
         "      - {date: 2028-01-01, name: 元旦}\n", 5, "不在 2027 年内"),
        ("years:\n  2027:\n    holidays:\n      - {from: 2027-10-07, to: 2027-10-01, name: 国庆}\n",
         4, "晚于"),
        ("years:\n  2027:\n    holidays:\n      - {date: 2027-02-06, name: 春节}\n"
         "    workdays:\n      - {date: 2027-02-06, name: 调休}\n", 6, "同时列为"),
        ("years:\n  2027:\n    holidays:\n      - {date: 2027-02-06 name: 春节}\n", 4, "invalid YAML"),
        ("years:\n  2027:\n    holiday:\n      - {date: 2027-02-06, name: 春节}\n", 3, "holiday"),
        ("years:\n  2027:\n    holidays:\n      - {date: 2027-02-06}\n", 4, "name"),
        ("years:\n  2100:\n    holidays: []\n", 2, "超出"),
    ],
    ids=["outside-year", "from-after-to", "holiday-and-workday", "bad-yaml", "unknown-field",
         "missing-name", "year-out-of-range"],
)
def test_malformed_override_file(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as caught:
        WorkingCalendar.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert words in message


# --- arithmetic --------------------------------------------------------------------------------


def test_between_agrees_with_add(calendar: WorkingCalendar) -> None:
    rng = random.Random(20260930)
    first, last = date(2000, 1, 1).toordinal(), date(2091, 12, 31).toordinal()
    for _ in range(3000):
        start = date.fromordinal(rng.randint(first, last))
        n = rng.choice([0, 1, 2, 5, 10, 15, 20, 60, rng.randint(0, 2000)])
        due = calendar.add_working_days(start, n)
        assert calendar.working_days_between(start, due) == n
        assert calendar.working_days_between(due, start) == -n
        if n:
            assert calendar.is_working_day(due)
            assert calendar.working_days_between(start, due - timedelta(days=1)) == n - 1


def test_whole_range_count_matches_day_by_day(calendar: WorkingCalendar) -> None:
    start, end = date(2000, 1, 1), date(2099, 12, 31)
    by_day = sum(
        calendar.is_working_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1)
    )
    assert calendar.working_days_between(start, end) == by_day


def test_zero_days_is_the_start_even_on_a_holiday(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 1)
    assert calendar.add_working_days(date(2026, 10, 1), 1) == date(2026, 10, 8)


def test_range_errors(calendar: WorkingCalendar) -> None:
    with pytest.raises(CalendarRangeError, match="2000–2099"):
        calendar.add_working_days(date(1999, 12, 31), 1)
    with pytest.raises(CalendarRangeError):
        calendar.add_working_days(date(2099, 12, 30), 5)
    with pytest.raises(CalendarRangeError):
        calendar.is_working_day(date(2100, 1, 1))
    with pytest.raises(CalendarRangeError):
        calendar.working_days_between(date(2026, 1, 1), date(2100, 1, 1))
    with pytest.raises(CalendarRangeError):
        calendar.holidays(1999)
    with pytest.raises(CalendarRangeError):
        calendar.is_published(2100)
    assert isinstance(CalendarRangeError(), ValueError)


def test_working_day_count_bounds(calendar: WorkingCalendar) -> None:
    for bad in (-1, 2001):
        with pytest.raises(ValueError, match="工作日数"):
            calendar.add_working_days(date(2026, 1, 5), bad)
    assert calendar.working_days_between(date(2026, 1, 5), calendar.add_working_days(date(2026, 1, 5), 2000)) == 2000


def test_impossible_date_names_the_file(tmp_path: Path) -> None:
    # PyYAML itself rejects 2027-02-30 before any line information is kept.
    path = write(tmp_path, "years:\n  2027:\n    holidays:\n      - {date: 2027-02-30, name: 春节}\n")
    with pytest.raises(DataFileError, match="无效日期") as caught:
        WorkingCalendar.load(path)
    assert str(path) in str(caught.value)
