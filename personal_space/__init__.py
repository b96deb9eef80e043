"""一人一企一档: people, enterprises and their members, documents and licences, 亮证, access log.

The back-office pushes (identity bindings, licences) come in through the signed integration
API; the mini-program reads through miniapp_api.
"""

from __future__ import annotations

from aiohttp import web

from core import keys
from personal_space import integration_api
from personal_space.demo import demo_data_context
from personal_space.reminders import reminder_planner_context


def setup(app: web.Application) -> None:
    """The HTTP service's part: the integration API and the demo people (DEMO_DATA)."""
    integration_api.setup(app)
    app.cleanup_ctx.append(demo_data_context)


def setup_calendar_hook(app: web.Application) -> None:
    """Every process's part, as hotline's: promised dates that were forecast follow a calendar change."""
    from personal_space.applications import recompute_provisional

    app[keys.CALENDAR_HOOKS].append(recompute_provisional)


def setup_workers(app: web.Application) -> None:
    """The background part: the licence and deferred-material reminder planner."""
    app.cleanup_ctx.append(reminder_planner_context)
