"""Understanding: parses per second and latency with the whole knowledge base, single process.

Run: .venv/bin/python -m bench.bench_nlu
Imports ../shared/datasets/gd_service_items.jsonl into a throwaway SQLite database as
`python server.py kb import` would, loads the knowledge base, trains the intent model (the
cold start a new process pays), then parses a realistic mix in a loop: the labelled dev and
held-out utterances, the out-of-domain inputs and the real complaint titles. The baseline,
measured in the same run on the same texts, is the knowledge-base search alone (what a bot
without intents would do). Targets: >= 3,000 parses/s, p99 <= 5 ms.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date

from bench.bench_search import imported_items, run
from bench.common import machine, report
from core.datafile import load_model
from intents import service
from intents.evaluate import DEV_SET, HOLDOUT_SET, OUT_OF_DOMAIN, LabelledFile, TextsFile, complaint_titles
from intents.understanding import understand
from knowledge_base.service import load_knowledge_base

TARGET_PPS, TARGET_P99_MS = 3000, 5.0


def main() -> int:
    print(f"machine: {machine()}")
    imported = asyncio.run(imported_items())
    began = time.perf_counter()
    kb = load_knowledge_base(imported)
    kb_seconds = time.perf_counter() - began
    service._TRAINED.clear()
    trained = service.train_intent_model(kb)
    print(f"cold start: knowledge base {kb_seconds * 1000:.0f} ms ({len(kb.items)} items), "
          f"intent model {trained.seconds * 1000:.0f} ms ({trained.examples} examples)")
    texts = [u.text for path in (DEV_SET, HOLDOUT_SET) for u in load_model(path, LabelledFile).utterances]
    texts += load_model(OUT_OF_DOMAIN, TextsFile).texts + complaint_titles()
    print(f"messages: {len(texts)} (dev, held-out, out-of-domain, complaint titles), cycled for 5 s")
    today = date(2026, 11, 18)
    first = time.perf_counter()
    understand(texts[0], trained.model, kb, today)
    print(f"first parse after loading: {(time.perf_counter() - first) * 1000:.2f} ms")
    pps, lat = run(lambda t: understand(t, trained.model, kb, today), texts)
    base_pps, base_lat = run(lambda t: kb.search(t, limit=3), texts)
    met = report("parses", TARGET_PPS, TARGET_P99_MS, [("parse", pps, lat), ("baseline search only", base_pps, base_lat)])
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
