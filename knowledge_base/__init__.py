"""Service items (事项) and scenarios (一件事): data files, models, import, search, checklists."""

from __future__ import annotations

from aiohttp import web

from knowledge_base.service import knowledge_base_context


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(knowledge_base_context)
