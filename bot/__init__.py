"""The WeChat official-account channel: webhook, crypto, dedupe, dialogue flows.

- `webhook`: `GET/POST /wechat` — signature, timestamp window, safe mode, safe XML, dedupe of
  WeChat's retries, and the 5-second budget (a slow answer follows by customer-service message);
- `dialogue`: what to say — routes a message to a flow (`flows/`), with what it keeps of each
  user between messages (`conversation`) read and stored by the webhook (`messages`);
- `chat`: a terminal chat with a running service through the real webhook.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from core import keys
from core.keys import BotRespond


def setup(app: web.Application) -> None:
    from bot import dialogue, webhook
    from bot.turn import Bindings

    app[keys.BOT_BINDINGS] = Bindings()
    app[keys.BOT_RESPOND] = at_most(app[keys.SETTINGS].bot_concurrency, dialogue.respond)
    webhook.setup(app)


def at_most(limit: int, respond: BotRespond) -> BotRespond:
    """`respond` with at most `limit` turns running at once in this process. Under a burst the
    rest wait their turn instead of all contending for the database pool and the CPU at once,
    which raises throughput and cuts the tail; a turn that waits past the webhook's budget gets
    the holding reply and its answer follows, as any slow turn does."""
    gate = asyncio.Semaphore(limit)

    async def limited(app: web.Application, incoming, memory: str | None) -> object:
        async with gate:
            return await respond(app, incoming, memory)

    return limited
