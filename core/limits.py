"""Failure budgets: how many failed attempts (a wrong query password, a wrong console password)
a caller may make within any `window` seconds before being refused. The window rolls on the
service clock: a caller is refused until the oldest of the failures that spent the budget is a
window old, whenever they came. Counted in the state store, so every server process sees the
same count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.state import StateStore


@dataclass(frozen=True)
class FailureBudget:
    prefix: str  # state-store key prefix, one namespace per use
    limit: int  # failures allowed within any window
    window: int  # seconds

    def _key(self, who: str) -> str:
        return f"{self.prefix}:{who}"

    async def spent(self, state: StateStore, now: datetime, *who: str) -> bool:
        """Whether any of the counters named (an address, an account, a number) is used up."""
        for name in who:
            if await state.count_events(self._key(name), now.timestamp(), self.window) >= self.limit:
                return True
        return False

    async def fail(self, state: StateStore, now: datetime, *who: str) -> bool:
        """Count one failure against every counter named; whether any is now used up."""
        counts = [await state.add_event(self._key(name), now.timestamp(), self.window, keep=self.limit)
                  for name in who]
        return any(count >= self.limit for count in counts)
