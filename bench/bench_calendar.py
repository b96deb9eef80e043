"""Benchmark of the working-day calendar (core.calendar), single-threaded.

Run: .venv/bin/python -m bench.bench_calendar
Deadlines are computed per row in bulk jobs over a million rows, so add_working_days must
sustain at least 200,000 calls/s; the exit status is 1 when it does not.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import date

from bench.common import machine
from core.calendar import WorkingCalendar

TARGET_ADD_PER_SECOND = 200_000
CALLS = 500_000


def rate(calls: int, run: Callable[[], None]) -> float:
    """Calls per second of `run`, which makes `calls` calls."""
    began = time.perf_counter()
    run()
    return calls / (time.perf_counter() - began)


def main() -> int:
    print(f"machine: {machine()}")

    began = time.perf_counter()
    calendar = WorkingCalendar()
    calendar.add_working_days(date(2026, 6, 1), 10)
    print(f"cold build, one year (2026): {(time.perf_counter() - began) * 1000:.1f} ms")
    began = time.perf_counter()
    WorkingCalendar().working_days_between(date(2000, 1, 1), date(2099, 12, 31))
    print(f"cold build, whole range 2000–2099: {(time.perf_counter() - began) * 1000:.1f} ms")

    # Bulk-job-like input: acceptance dates over 2025–2027 (published and predicted years),
    # typical promised durations; the calendar is warmed over those years first.
    rng = random.Random(1)
    first, last = date(2025, 1, 1).toordinal(), date(2027, 12, 31).toordinal()
    starts = [date.fromordinal(rng.randint(first, last)) for _ in range(CALLS)]
    counts = [rng.choice((1, 3, 5, 10, 15, 20, 30, 60)) for _ in range(CALLS)]
    ends = [date.fromordinal(rng.randint(first, last)) for _ in range(CALLS)]
    calendar.working_days_between(date(2025, 1, 1), date(2028, 3, 31))

    add, between, is_working = calendar.add_working_days, calendar.working_days_between, calendar.is_working_day
    add_rate = rate(CALLS, lambda: [add(s, n) for s, n in zip(starts, counts)])
    between_rate = rate(CALLS, lambda: [between(s, e) for s, e in zip(starts, ends)])
    working_rate = rate(CALLS, lambda: [is_working(s) for s in starts])
    deadline = calendar.deadline
    deadline_rate = rate(CALLS, lambda: [deadline(s, n) for s, n in zip(starts, counts)])

    print(f"add_working_days:     {add_rate:>12,.0f} calls/s")
    print(f"working_days_between: {between_rate:>12,.0f} calls/s")
    print(f"is_working_day:       {working_rate:>12,.0f} calls/s")
    print(f"deadline:             {deadline_rate:>12,.0f} calls/s")
    ok = add_rate >= TARGET_ADD_PER_SECOND
    print(f"target add_working_days >= {TARGET_ADD_PER_SECOND:,}/s: {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
