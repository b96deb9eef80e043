"""12345 tickets: lifecycle, working-day deadlines, escalation, agents and the console.

- `rules`: the state machine, who may do what, the deadline rule (pure);
- `tickets`: registration and every action, in the caller's transaction;
- `escalation`: yellow and red cards, 督办 records, sign-for alerts, provisional deadlines;
- `follow_up`: bad ratings of applications become 投诉 tickets;
- `handoffs`: chats the bot hands to a person, answered by customer-service message;
- `queues`: the console's lists and the department KPIs;
- `suggest`, `catalogue`: categories, their departments, and the learned category suggestion;
- `staff`, `console_api`, `pages`: console accounts, its JSON API and the page at /console/.
"""

from __future__ import annotations

from aiohttp import web

from core import keys


def setup(app: web.Application) -> None:
    """The HTTP service's part: the console and its API, the category suggester, the demo tickets
    and console accounts (DEMO_DATA)."""
    from hotline import console_api, pages
    from hotline.demo import demo_data_context
    from hotline.service import suggester_context

    console_api.setup(app)
    pages.setup(app)
    app.cleanup_ctx.extend([suggester_context, demo_data_context])


def setup_workers(app: web.Application) -> None:
    """The background part: the escalation scan and the bad-rating follow-up."""
    from hotline.escalation import escalation_context
    from hotline.follow_up import rating_follow_up_context

    app.cleanup_ctx.extend([escalation_context, rating_follow_up_context])


def setup_calendar_hook(app: web.Application) -> None:
    """Every process's part, web or worker: provisional deadlines follow a calendar change. Each
    process watches the calendar and whichever sees a change first recomputes (core.calendar_service),
    so each one carries the hook."""
    from hotline.escalation import recompute_provisional

    app[keys.CALENDAR_HOOKS].append(recompute_provisional)
