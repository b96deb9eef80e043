"""Operator commands for the working-day calendar: check, load and show the override file."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

from core.calendar import WorkingCalendar, load_overrides
from core.settings import Settings

WEEKDAYS = "一二三四五六日"


def _changed_days(old: WorkingCalendar, new: WorkingCalendar, years: list[int]) -> list[str]:
    lines = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            before, after = old.is_working_day(day), new.is_working_day(day)
            if before != after:
                lines.append(f"  {day} 周{WEEKDAYS[day.weekday()]}：{'工作日' if before else '休息日'} → "
                             f"{'工作日' if after else '休息日'}")
            day += timedelta(days=1)
    return lines


def check(settings: Settings, file: str) -> int:
    """Validate `file` and print the version and every day whose status it changes."""
    new = WorkingCalendar.load(Path(file))  # DataFileError names the file and the line
    old = WorkingCalendar.load(settings.calendar_file)
    years = sorted(load_overrides(Path(file)).years)
    print(f"文件有效：{file}")
    print(f"日历版本：{old.version}（现行） → {new.version}")
    for year in years:
        print(f"{year} 年：{'已公布' if new.is_published(year) else '预测（provisional）'}")
    changes = _changed_days(old, new, years)
    print("与现行日历相比的变化：" if changes else "与现行日历相比没有变化")
    for line in changes:
        print(line)
    return 0


def load(settings: Settings, file: str) -> int:
    """Validate `file` and install it atomically as the configured override file."""
    check(settings, file)
    target = settings.calendar_file
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".calendar-")
    os.close(fd)
    shutil.copyfile(file, tmp)
    os.replace(tmp, target)  # readers see the old file or the new one, never half of one
    print(f"已安装到 {target}；运行中的服务将在 {settings.calendar_reload_seconds:g} 秒内载入并重算临时期限")
    return 0


def show(settings: Settings, year: int) -> int:
    """Print a year's days off (not weekends) and make-up working days."""
    calendar = WorkingCalendar.load(settings.calendar_file)
    status = "已公布" if calendar.is_published(year) else "预测（provisional，调休上班日无法预测）"
    print(f"{year} 年（{status}），日历版本 {calendar.version}")
    print("放假（不含普通周末）：")
    for day, name in calendar.holidays(year):
        print(f"  {day} 周{WEEKDAYS[day.weekday()]} {name}")
    makeup = calendar.makeup_workdays(year)
    print("调休上班：" + ("、".join(f"{d} 周{WEEKDAYS[d.weekday()]}" for d in makeup) if makeup else "无"))
    return 0


def run(settings: Settings, action: str, file: str | None, year: int | None) -> int:
    if action == "show":
        return show(settings, year)
    return {"check": check, "load": load}[action](settings, file)
