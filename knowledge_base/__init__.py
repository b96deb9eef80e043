"""Service items (事项) and scenarios (一件事): data files, models, import, search, checklists."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """The knowledge base, built when the app starts. Imported here, not above: a worker process
    imports this package without serving it, and importing the search (pypinyin's and jieba's
    dictionaries) costs about 80 MB."""
    from knowledge_base.service import knowledge_base_context

    app.cleanup_ctx.append(knowledge_base_context)
