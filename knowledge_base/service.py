"""The knowledge base a running service answers from: curated files, imported items, index.

Built once at startup (`knowledge_base_context`) and replaced whole, never mutated, so requests
read it without locks. `load_knowledge_base()` is also what the benchmarks and the evaluation
command use, so they measure exactly what the service serves.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiohttp import web

from core import keys
from core.db import transaction
from core.errors import NotFound
from core.tasks import background
from knowledge_base.catalogue import DATA_DIR, Catalogue, load_catalogue
from knowledge_base.checklist import Checklist, build_checklist
from knowledge_base.schema import Item, Scenario
from knowledge_base.search import SearchIndex, SearchResult
from knowledge_base.text import Analyzer, Synonyms

log = logging.getLogger("knowledge_base")


class ScenarioNotFound(NotFound):
    code = "scenario_not_found"
    message = "未找到该场景（一件事）"


class ItemNotFound(NotFound):
    code = "item_not_found"
    message = "未找到该事项"


@dataclass(frozen=True)
class KnowledgeBase:
    catalogue: Catalogue
    items: dict[str, Item]  # curated and imported, by code
    index: SearchIndex
    load_seconds: float

    def scenario(self, scenario_id: str) -> Scenario:
        try:
            return self.catalogue.scenarios[scenario_id]
        except KeyError:
            raise ScenarioNotFound() from None

    def item(self, code: str) -> Item:
        try:
            return self.items[code]
        except KeyError:
            raise ItemNotFound() from None

    def search(self, query: str, limit: int = 10, kind: str | None = None) -> SearchResult:
        return self.index.search(query, limit=limit, kind=kind)

    def checklist(self, scenario_id: str, answers: dict[str, str],
                  held_kinds: frozenset[str] = frozenset()) -> Checklist:
        return build_checklist(self.scenario(scenario_id), self.items, answers, held_kinds)


def load_knowledge_base(imported: Iterable[Item] = (), catalogue: Catalogue | None = None) -> KnowledgeBase:
    """Build the knowledge base from the data files and the imported items."""
    started = time.perf_counter()
    catalogue = catalogue or load_catalogue()
    items = {item.code: item for item in imported}
    items.update(catalogue.items)  # a curated item wins over an imported one with its code
    words = [w for sc in catalogue.scenarios.values() for w in (sc.name, *sc.aliases, *sc.keywords)]
    words += [w for item in catalogue.items.values() for w in (item.name, *item.aliases)]
    analyzer = _analyzer(tuple(sorted(set(words))), (DATA_DIR / "synonyms.yaml").read_text(encoding="utf-8"))
    index = SearchIndex(analyzer, catalogue.scenarios.values(), items.values(), set(catalogue.items))
    return KnowledgeBase(catalogue, items, index, time.perf_counter() - started)


@functools.lru_cache(maxsize=2)
def _analyzer(words: tuple[str, ...], synonyms_text: str) -> Analyzer:
    """One jieba dictionary per process for the same words: a reload with newly imported items
    (and the intent model, which tokenises with it) reuses it."""
    return Analyzer(words, Synonyms.load(DATA_DIR / "synonyms.yaml"))


# Built knowledge bases by fingerprint of their inputs: an app built again in the same process
# (tests, a reload with nothing new imported) reuses the index instead of spending a second.
_BUILT: dict[str, KnowledgeBase] = {}


def _fingerprint(imported: list[Item]) -> str:
    digest = hashlib.sha256()
    for path in sorted(DATA_DIR.rglob("*.yaml")):
        digest.update(f"{path}:{path.stat().st_mtime_ns}".encode())
    for item in imported:
        digest.update(item.model_dump_json().encode())
    return digest.hexdigest()


@dataclass
class LiveKnowledgeBase:
    """The knowledge base in force in this process; `current` is replaced whole, never mutated
    (the app's own state cannot change once it runs)."""

    current: KnowledgeBase
    complete: bool  # False while the imported items could not be read from the database


def _build(imported: list[Item]) -> KnowledgeBase:
    key = _fingerprint(imported)
    kb = _BUILT.get(key)
    if kb is None:
        kb = _BUILT[key] = load_knowledge_base(imported)
        while len(_BUILT) > 2:  # keep the newest two
            del _BUILT[next(iter(_BUILT))]
    return kb


async def reload_knowledge_base(app: web.Application) -> None:
    """Read the imported items again and swap in a knowledge base built with them."""
    from knowledge_base.importer import load_imported_items

    async with transaction(app) as session:
        imported = await load_imported_items(session)
    live = app[keys.KNOWLEDGE_BASE]
    live.current, live.complete = _build(imported), True
    log.info("knowledge base loaded", extra={"scenarios": len(live.current.catalogue.scenarios),
                                             "items": len(live.current.items),
                                             "seconds": round(live.current.load_seconds, 3)})


async def _retry_until_complete(app: web.Application, interval: float = 30.0) -> None:
    while not app[keys.KNOWLEDGE_BASE].complete:
        await asyncio.sleep(interval)
        try:
            await reload_knowledge_base(app)
        except Exception:  # noqa: BLE001 - the database may still be down; try again later
            log.warning("imported items still unavailable; serving curated items only")


async def knowledge_base_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: load the knowledge base with the items imported into the database.

    With the database down at startup the service still starts, answering from the curated
    files, and keeps trying to add the imported items.
    """
    app[keys.KNOWLEDGE_BASE] = LiveKnowledgeBase(_build([]), complete=False)
    try:
        await reload_knowledge_base(app)
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("imported items unavailable at startup; serving curated items only")
    async with background(_retry_until_complete(app), name="knowledge-base-retry"):
        yield
