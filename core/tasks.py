"""Background tasks that live exactly as long as the block around them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, Any], name: str) -> AsyncIterator[asyncio.Task]:
    """Run `coro` while the block runs; cancel it and wait for it to end on the way out."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def repeat(job: Callable[[], Awaitable[bool]], interval: float, log: logging.Logger, what: str) -> None:
    """Run `job` for ever: again at once while it says there is more to do, otherwise after
    `interval` seconds. A failure (a database outage) is logged and tried again, never fatal."""
    while True:
        try:
            more = await job()
        except Exception:  # noqa: BLE001 - a worker outlives any one failure
            log.exception("%s failed; trying again", what)
            more = False
        if not more:
            await asyncio.sleep(interval)
