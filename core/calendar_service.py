"""The working-day calendar in a running service: loaded at startup, reloaded when the override
file changes, and its version recorded so stored deadlines are recomputed exactly once per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from core import keys, system_state
from core.calendar import WorkingCalendar
from core.datafile import DataFileError
from core.db import transaction
from core.tasks import background

log = logging.getLogger("calendar")
VERSION_KEY = "calendar_version"


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


async def sync_calendar_version(app: web.Application) -> bool:
    """Run the recompute hooks if the stored version differs; True when they ran.

    The row lock makes one process do the work when several notice the change at once.
    """
    calendar = app[keys.CALENDAR].current
    async with transaction(app) as session:
        row = await system_state.read_for_update(session, VERSION_KEY)
        if row is not None and row.value == calendar.version:
            return False
        for hook in app[keys.CALENDAR_HOOKS]:
            await hook(session, calendar, app[keys.CLOCK].now())
        await system_state.write(session, VERSION_KEY, calendar.version, app[keys.CLOCK].now())
    log.info("calendar version applied", extra={"version": calendar.version,
                                                 "previous": None if row is None else row.value})
    return True


@dataclass
class LiveCalendar:
    """The calendar in force in this process; `current` is swapped when the file changes
    (the app's own state cannot change once it runs)."""

    current: WorkingCalendar
    mtime: int | None  # of the override file when last read
    synced: str | None = None  # calendar version last recorded in the database by this process


async def refresh_calendar(app: web.Application) -> None:
    """One watcher tick: reload the override file if it changed (a bad file is logged and the
    calendar in force kept), then record the version if this process has not yet."""
    live = app[keys.CALENDAR]
    path = app[keys.SETTINGS].calendar_file
    mtime = _mtime(path)
    if mtime != live.mtime:
        live.mtime = mtime
        try:
            live.current = WorkingCalendar.load(path)
        except DataFileError as exc:
            log.error("calendar override file rejected; keeping the calendar in force",
                      extra={"file": exc.path, "problems": exc.problems})
    if live.current.version != live.synced:
        await sync_calendar_version(app)
        live.synced = live.current.version


async def _watch(app: web.Application) -> None:
    interval = app[keys.SETTINGS].calendar_reload_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh_calendar(app)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the watcher
            log.exception("calendar refresh failed; will retry")


async def calendar_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: load the calendar, record its version, watch the override file."""
    path = app[keys.SETTINGS].calendar_file
    mtime = _mtime(path)
    app[keys.CALENDAR] = LiveCalendar(current=WorkingCalendar.load(path), mtime=mtime)
    try:
        await refresh_calendar(app)
    except Exception:  # noqa: BLE001 - the database may be down at start; the watcher retries
        log.exception("could not record the calendar version at startup")
    async with background(_watch(app), name="calendar-watch"):
        yield
