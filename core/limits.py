"""Failure budgets: how many failed attempts (a wrong query password, a wrong console password)
a caller may make within a window before being refused for the rest of it. Counted in the state
store, so every server process sees the same count."""

from __future__ import annotations

from dataclasses import dataclass

from core.state import StateStore


@dataclass(frozen=True)
class FailureBudget:
    prefix: str  # state-store key prefix, one namespace per use
    limit: int  # failures allowed per window
    window: int  # seconds, from the first failure

    def _key(self, who: str) -> str:
        return f"{self.prefix}:{who}"

    async def spent(self, state: StateStore, *who: str) -> bool:
        """Whether any of the counters named (an address, an account, a number) is used up."""
        for name in who:
            if int(await state.get(self._key(name)) or 0) >= self.limit:
                return True
        return False

    async def fail(self, state: StateStore, *who: str) -> bool:
        """Count one failure against every counter named; whether any is now used up."""
        counts = [await state.increment(self._key(name), ttl=self.window) for name in who]
        return any(count >= self.limit for count in counts)
