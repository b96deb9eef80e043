"""The WeChat official-account channel: webhook, crypto, dedupe, dialogue flows.

- `webhook`: `GET/POST /wechat` — signature, timestamp window, safe mode, safe XML, dedupe of
  WeChat's retries, and the 5-second budget (a slow answer follows by customer-service message);
- `dialogue`: what to say — routes a message to a flow (`flows/`), with state per user in the
  state store (`conversation`);
- `chat`: a terminal chat with a running service through the real webhook.
"""

from __future__ import annotations

from aiohttp import web

from core import keys


def setup(app: web.Application) -> None:
    from bot import dialogue, webhook

    app[keys.BOT_RESPOND] = dialogue.respond
    webhook.setup(app)
