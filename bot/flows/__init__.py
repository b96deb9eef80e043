"""The bot's conversations, one module per feature. Each has a `start(turn, …)` (with what the
message already gave: a target, a number) and `STEPS`: step name → handler of the user's next message. A handler returns the reply text (or a
`Reply`) and moves the conversation on, or ends it with `turn.conversation.leave()`.

Shared here: the step that looks a record up by its number and a secret (an application's query
password, the phone a ticket was filed with)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.turn import Turn
from core import keys
from core.db import transaction
from core.limits import FailureBudget, give_back

TRIES = 3  # wrong secrets in one conversation before it ends
TOO_MANY_FAILURES = "查询失败次数过多，请10分钟后再试。"

# (session, number, secret) → the answer, or None when the secret does not fit the number.
Answer = Callable[[AsyncSession, str, str | None], Awaitable[str | None]]


async def answer_with_secret(turn: Turn, budget: FailureBudget, secret: str | None, answer: Answer, *,
                             wrong: str, gave_up: str, ask: str) -> str:
    """Answer the number kept in the conversation (`data["number"]`, with `data["tries"]`) if
    `secret` fits it. A wrong secret counts against `budget` for this WeChat user and for the
    number, so neither guessing secrets nor walking numbers gets further by starting new
    conversations; `wrong` (which may name the {left} tries) asks again, and after TRIES wrong
    answers the conversation ends with `gave_up`. A message that holds no secret at all
    (`secret` None: "不知道", "在哪看") is no try: `ask` says again what is wanted."""
    if secret is None:
        return ask
    data = turn.conversation.data
    state, counters = turn.app[keys.STATE], (f"openid:{turn.openid}", f"no:{data['number']}")
    attempt = await budget.attempt(state, turn.now, *counters)  # taken before the check, given back if right
    if attempt is None:
        turn.conversation.leave()
        return TOO_MANY_FAILURES
    async with transaction(turn.app) as session:
        found = await answer(session, data["number"], secret)
    if found is not None:
        await give_back(state, attempt)
        turn.conversation.leave()
        return found
    if attempt.last:  # this failure spent the budget shared across conversations
        turn.conversation.leave()
        return TOO_MANY_FAILURES
    data["tries"] += 1
    left = TRIES - data["tries"]
    if left <= 0:
        turn.conversation.leave()
        return gave_up
    return wrong.format(left=left)
