"""Background tasks that live exactly as long as the block around them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

Job = Callable[[web.Application, asyncio.Event], Awaitable[bool]]


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, Any], name: str, *, stopping: asyncio.Event | None = None,
                     grace: float = 0.0) -> AsyncIterator[asyncio.Task]:
    """Run `coro` while the block runs. On the way out set `stopping` and give the task `grace`
    seconds to end by itself (to finish what it has started), then cancel it and wait for it."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        if stopping is not None:
            stopping.set()
            await asyncio.wait({task}, timeout=grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def repeat(job: Callable[[], Awaitable[bool]], interval: float, log: logging.Logger, what: str,
                 stopping: asyncio.Event) -> None:
    """Run `job` until `stopping` is set: again at once while it says there is more to do,
    otherwise after `interval` seconds. A failure (a database outage) is logged and tried again,
    never fatal."""
    while not stopping.is_set():
        try:
            more = await job()
        except Exception:  # noqa: BLE001 - a worker outlives any one failure
            log.exception("%s failed; trying again", what)
            more = False
        if not more:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)


def worker(name: str, job: Job, interval: float | Callable[[web.Application], float], log: logging.Logger, *,
           grace: float = 0.0) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs `job(app, stopping)` as `repeat` does for as long as the app
    lives; on the way out the job gets `grace` seconds to finish. Whether a process runs it is
    decided where the app is composed (server.py), not here."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        every = interval(app) if callable(interval) else interval

        async def once() -> bool:
            return await job(app, stopping)

        async with background(repeat(once, every, log, name, stopping), name=name, stopping=stopping, grace=grace):
            yield

    return context
