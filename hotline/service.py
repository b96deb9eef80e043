"""The hotline in a running service: the category suggester, and the context every change needs."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from core import keys
from hotline.tickets import Context


@dataclass
class LiveSuggester:
    """The category suggester in force; None when no labelled messages were found."""

    current: object | None = None  # hotline.suggest.CategorySuggester


@functools.lru_cache(maxsize=4)
def _trained(datasets_dir: Path):
    from hotline.suggest import load_suggester  # jieba and numpy: loaded only when the app starts

    return load_suggester(datasets_dir)


async def suggester_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: train the suggester off the event loop (once per process and folder)."""
    folder = app[keys.SETTINGS].hotline_datasets_dir
    app[keys.CATEGORY_SUGGESTER] = LiveSuggester(await asyncio.get_running_loop().run_in_executor(None, _trained, folder))
    yield


def context(app: web.Application) -> Context:
    """The calendar in force, the time now and the citizen notification channel."""
    return Context(app[keys.CALENDAR].current, app[keys.CLOCK].now(), app[keys.SETTINGS].notify_channel)
