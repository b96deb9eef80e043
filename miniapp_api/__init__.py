"""The mini-program's JSON API: thin handlers over the feature packages.

Each module here declares typed handlers (see core.api) and `setup(app)` adds all routes.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Every route. Imported here: the handlers import the knowledge base and the understanding,
    which a worker process (it imports this package too) does without."""
    from miniapp_api import applications, calendar, enterprises, guides, me, nlu, privacy, tickets

    calendar.setup(app)
    guides.setup(app)
    nlu.setup(app)
    me.setup(app)
    enterprises.setup(app)
    applications.setup(app)
    tickets.setup(app)
    privacy.setup(app)
