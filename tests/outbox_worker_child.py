"""A worker process for the kill test: `python -m tests.outbox_worker_child SETTINGS_JSON`.

Starts the service's app (no HTTP listener) with the given settings and delivers the outbox in
a loop until it is killed; prints "ready" once started.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

from core import outbox
from core.settings import load_settings
from server import create_app


async def main(settings_json: str) -> None:
    runner = web.AppRunner(create_app(load_settings(**json.loads(settings_json))))
    await runner.setup()
    print("ready", flush=True)
    while True:
        if not await outbox.run_once(runner.app):
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
