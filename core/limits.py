"""Failure budgets: how many failed attempts (a wrong query password, a wrong console password)
a caller may make within any `window` seconds before being refused. The window rolls on the
service clock: a caller is refused until the oldest of the failures that spent the budget is a
window old, whenever they came. Counted in the state store, so every server process sees the
same count.

An attempt is taken from the budget before it is tried (`attempt`) and given back when it
turned out well (`give_back`): attempts made at the same moment cannot all pass one check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.state import StateStore


@dataclass(frozen=True)
class Attempt:
    """One attempt taken from a budget's counters: a failure unless given back."""

    taken: tuple[tuple[str, str], ...]  # (state-store key, event id) per counter
    last: bool  # it took the last one some counter had: should it fail, that budget is spent


@dataclass(frozen=True)
class FailureBudget:
    prefix: str  # state-store key prefix, one namespace per use
    limit: int  # failures allowed within any window
    window: int  # seconds

    def _key(self, who: str) -> str:
        return f"{self.prefix}:attempts:{who}"

    async def attempt(self, state: StateStore, now: datetime, *who: str) -> Attempt | None:
        """Take one attempt from every counter named, or None (and nothing taken) when any of
        them is used up. It counts as a failure unless `give_back` is called."""
        taken: list[tuple[str, str]] = []
        last = False
        for name in who:
            noted = await state.add_event(self._key(name), now.timestamp(), self.window, self.limit)
            if noted is None:
                await give_back(state, Attempt(tuple(taken), last))
                return None
            taken.append((self._key(name), noted[0]))
            last = last or noted[1] >= self.limit
        return Attempt(tuple(taken), last)


async def give_back(state: StateStore, *attempts: Attempt | None) -> None:
    """The attempts were no failures (the password was right, or it was never checked)."""
    for attempt in attempts:
        for key, event in attempt.taken if attempt is not None else ():
            await state.remove_event(key, event)
