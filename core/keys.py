"""Typed application keys: every piece of app-wide state is declared here, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import Clock
from core.settings import Settings
from core.state import StateStore

if TYPE_CHECKING:  # these import core.keys themselves
    from core.calendar import WorkingCalendar
    from core.calendar_service import LiveCalendar  # noqa: F401 - named in an AppKey below
    from bot.messages import Answer, Incoming  # noqa: F401 - named in BotRespond below
    from bot.turn import Bindings  # noqa: F401 - named in an AppKey below
    from core.wechat import WeChatApi  # noqa: F401 - named in an AppKey below
    from hotline.service import LiveSuggester  # noqa: F401 - named in an AppKey below
    from intents.model import IntentModel  # noqa: F401 - named in an AppKey below
    from knowledge_base.service import LiveKnowledgeBase  # noqa: F401 - named in an AppKey below

CalendarHook = Callable[[AsyncSession, "WorkingCalendar", datetime], Awaitable[None]]  # (…, now)
# The dialogue: the message and what was kept of its sender (None when nothing) → its answer.
BotRespond = Callable[[web.Application, "Incoming", str | None], Awaitable["Answer"]]

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
STATE = web.AppKey("state", StateStore)
CALENDAR = web.AppKey("calendar", "LiveCalendar")  # .current is the WorkingCalendar in force
# Called in one transaction when the calendar version changes, to recompute stored deadlines.
CALENDAR_HOOKS = web.AppKey("calendar_hooks", list[CalendarHook])
OPENAPI = web.AppKey("openapi", dict)
KNOWLEDGE_BASE = web.AppKey("knowledge_base", "LiveKnowledgeBase")  # .current is the KnowledgeBase in force
INTENT_MODEL = web.AppKey("intent_model", "IntentModel")
UNDERSTAND = web.AppKey("understand", "Recent")  # intents.understanding.Recent: understand, recent readings kept
WECHAT = web.AppKey("wechat", "WeChatApi")  # outgoing WeChat API calls (core.wechat)
CATEGORY_SUGGESTER = web.AppKey("category_suggester", "LiveSuggester")  # .current: the hotline's, or None
BOT_RESPOND = web.AppKey("bot_respond", BotRespond)  # the dialogue behind the /wechat webhook
BOT_BINDINGS = web.AppKey("bot_bindings", "Bindings")  # the real-name bindings the bot read lately, in memory
