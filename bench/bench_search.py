"""Knowledge-base search: throughput and latency with every item loaded, single process.

Run: .venv/bin/python -m bench.bench_search
Loads the curated scenarios and items and imports ../shared/datasets/gd_service_items.jsonl into
a throwaway SQLite database, exactly as `python server.py kb import` would, then answers the
labelled dev queries in a loop. For scale, the same queries go through a naive baseline measured
in the same run: rapidfuzz's extractOne over every name. Targets: >= 2,000 queries/s, p99 <= 5 ms.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import datetime

from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.common import machine, report
from core.clock import SHANGHAI
from core.datafile import load_model
from core.db import create_engine
from core.migrate import migrate
from core.settings import REPO_ROOT, load_settings
from knowledge_base.catalogue import load_catalogue
from knowledge_base.evaluate import DEV_SETS, LabelledFile
from knowledge_base.importer import import_items, load_imported_items, read_jsonl
from knowledge_base.service import load_knowledge_base

DATASET = REPO_ROOT.parent / "shared" / "datasets" / "gd_service_items.jsonl"
SECONDS = 5.0
TARGET_QPS, TARGET_P99_MS = 2000, 5.0


async def imported_items():
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(load_settings(database_url=f"sqlite:///{tmp}/bench.db"))
        try:
            await migrate(engine)
            async with async_sessionmaker(engine).begin() as session:
                await import_items(session, read_jsonl(DATASET), curated=load_catalogue(),
                                   now=datetime.now(SHANGHAI))
            async with async_sessionmaker(engine)() as session:
                return await load_imported_items(session)
        finally:
            await engine.dispose()


def run(search, queries: list[str]) -> tuple[float, list[float]]:
    latencies = []
    began = time.perf_counter()
    while time.perf_counter() - began < SECONDS:
        for q in queries:
            t = time.perf_counter()
            search(q)
            latencies.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, sorted(latencies)


def main() -> int:
    print(f"machine: {machine()}")
    imported = asyncio.run(imported_items())
    began = time.perf_counter()
    kb = load_knowledge_base(imported)
    startup = time.perf_counter() - began
    print(f"loaded: {len(kb.catalogue.scenarios)} scenarios, {len(kb.items)} items "
          f"({len(imported)} imported); startup (catalogue, jieba and dictionary, index) {startup * 1000:.0f} ms")
    queries = [q.q for path in DEV_SETS if path.exists() for q in load_model(path, LabelledFile).queries]
    print(f"queries: {len(queries)} labelled dev queries, cycled for {SECONDS:.0f} s")
    qps, lat = run(lambda q: kb.search(q, limit=10), queries)
    names = [n for d in kb.index.docs for n in d.names]
    base_qps, base_lat = run(lambda q: process.extractOne(q, names, scorer=fuzz.WRatio), queries)
    met = report("queries", TARGET_QPS, TARGET_P99_MS, [("search", qps, lat), ("baseline extractOne", base_qps, base_lat)])
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
