"""一人一企一档: people, enterprises and their members, documents and licences, 亮证, access log.

The back-office pushes (identity bindings, licences) come in through the signed integration
API; the mini-program reads through miniapp_api.
"""

from __future__ import annotations

from aiohttp import web

from personal_space import integration_api
from personal_space.demo import demo_data_context
from personal_space.reminders import reminder_planner_context


def setup(app: web.Application) -> None:
    integration_api.setup(app)
    app.cleanup_ctx.extend([demo_data_context, reminder_planner_context])
