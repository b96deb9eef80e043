"""The one source of "now". Everything that needs the time asks a Clock, so tests can move it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """Wall-clock time in Asia/Shanghai. Subclassed by FrozenClock for tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in Asia/Shanghai."""
        return datetime.now(SHANGHAI)

    def today(self) -> date:
        """Today's date in Asia/Shanghai (not the server's local zone)."""
        return self.now().date()


class FrozenClock(Clock):
    """A clock that stands still until moved: `set()` or `advance()`."""

    def __init__(self, at: datetime):
        self._now = self._aware(at)

    @staticmethod
    def _aware(at: datetime) -> datetime:
        return at.replace(tzinfo=SHANGHAI) if at.tzinfo is None else at.astimezone(SHANGHAI)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = self._aware(at)

    def advance(self, delta: timedelta) -> None:
        self._now += delta
