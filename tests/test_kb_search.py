"""Search quality with the whole knowledge base: curated data plus the 2,262 imported items."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.clock import SHANGHAI
from core.datafile import load_model
from core.db import create_engine
from core.settings import load_settings
from knowledge_base.catalogue import load_catalogue
from knowledge_base.evaluate import DEV_SETS, OUT_OF_SCOPE, LabelledFile, PlainFile, confident_rate, evaluate
from knowledge_base.importer import import_items, load_imported_items, read_jsonl
from knowledge_base.models import ImportedItem
from knowledge_base.service import load_knowledge_base
from knowledge_base.text import name_key
from tests.conftest import SHARED

DATASET = SHARED / "datasets" / "gd_service_items.jsonl"


async def _import_and_read(database_url: str, remove: bool = False):
    engine = create_engine(load_settings(database_url=database_url))
    sessions = async_sessionmaker(engine)
    try:
        if remove:
            async with sessions.begin() as session:
                await session.execute(delete(ImportedItem))
            return None
        async with sessions.begin() as session:
            await import_items(session, read_jsonl(DATASET), curated=load_catalogue(), now=datetime.now(SHANGHAI))
        async with sessions() as session:
            return await load_imported_items(session)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def full_kb(database_url):
    """Import the real catalogue into PostgreSQL as the operator command does, then load the
    knowledge base the way the service does."""
    if not DATASET.exists():
        pytest.skip(f"{DATASET} is absent (the shared datasets folder is not beside the repo)")
    imported = asyncio.run(_import_and_read(database_url))
    yield load_knowledge_base(imported), imported
    asyncio.run(_import_and_read(database_url, remove=True))


def test_dev_set_top1_is_at_least_90_percent(full_kb):
    kb, _ = full_kb
    queries = load_model(DEV_SETS[0], LabelledFile).queries
    result = evaluate(kb, queries)
    assert result.total >= 150
    assert result.top1_rate >= 0.90, result.misses
    assert result.top3_rate >= 0.95, result.misses


def test_imported_items_are_found_top1_by_their_exact_name(full_kb):
    kb, imported = full_kb
    assert len(imported) >= 2000
    same_name: dict[str, set[str]] = {}
    for item in kb.items.values():
        same_name.setdefault(name_key(item.name), set()).add(item.code)
    wrong = []
    for item in imported:
        hits = kb.search(item.name, limit=1).hits
        # Rows that share a name (the same item of several departments) are one answer.
        if not hits or hits[0].doc.id not in same_name[name_key(item.name)]:
            wrong.append((item.name, hits[0].doc.name if hits else None))
    assert wrong == [], wrong


def test_paraphrases_of_imported_items_are_found_top3(full_kb):
    kb, _ = full_kb
    queries = load_model(DEV_SETS[1], LabelledFile).queries
    result = evaluate(kb, queries)
    assert result.total >= 30
    assert result.top3 >= 30
    assert result.top3_rate >= 0.85, result.misses


def test_out_of_scope_queries_get_no_confident_hit(full_kb):
    kb, _ = full_kb
    queries = load_model(OUT_OF_SCOPE, PlainFile).queries
    rate, confident = confident_rate(kb, queries)
    assert len(queries) >= 40
    assert rate <= 0.10, confident
