"""好差评: the five levels of the government-service rating system, best first (PRODUCT.md §4),
for a concluded application and an answered 12345 ticket alike."""

from __future__ import annotations

from typing import Literal

LEVELS = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
Level = Literal[LEVELS]  # the API schemas' type (its OpenAPI enum follows LEVELS)
SATISFIED = frozenset(LEVELS[:3])
BAD = frozenset(LEVELS[3:])  # a 差评: needs a reason, and someone looks into it
