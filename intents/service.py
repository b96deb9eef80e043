"""The intent model a running service uses: trained once per process from the example file.

Training takes about a second, so it is cached by a fingerprint of what it depends on (the
examples, and the knowledge base's domain words and synonyms that shape tokenisation): apps
built again in one process (tests, benchmarks) reuse the model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

from aiohttp import web

from core import keys
from intents.entities import extract
from intents.model import DATA_DIR, IntentModel, features, guide_examples, load_examples, train
from intents.understanding import Recent
from knowledge_base.catalogue import DATA_DIR as KB_DATA_DIR
from knowledge_base.service import KnowledgeBase
from knowledge_base.text import fold

log = logging.getLogger("intents")


@dataclass(frozen=True)
class TrainedModel:
    model: IntentModel
    examples: int
    seconds: float


_TRAINED: dict[str, TrainedModel] = {}


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted([*DATA_DIR.rglob("*.yaml"), *KB_DATA_DIR.rglob("*.yaml")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_intent_model(kb: KnowledgeBase) -> TrainedModel:
    """Train on the example files and the curated services' names, tokenising as the
    knowledge base does."""
    key = _fingerprint()
    trained = _TRAINED.get(key)
    if trained is None:
        started = time.perf_counter()
        samples = []
        catalogue = kb.catalogue
        names = [n for sc in catalogue.scenarios.values() for n in (sc.name, *sc.aliases)]
        names += [n for item in catalogue.items.values() for n in (item.name, *item.aliases)]
        for text, intent in load_examples() + guide_examples(names):
            _, marked = extract(fold(text), date(2000, 1, 1))  # any day: only the placeholders count
            samples.append((features(kb.index.analyzer, marked).names, intent))
        trained = TrainedModel(train(samples), len(samples), time.perf_counter() - started)
        _TRAINED.clear()
        _TRAINED[key] = trained
    return trained


async def intents_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the knowledge base's): train or reuse the intent model."""
    trained = train_intent_model(app[keys.KNOWLEDGE_BASE].current)
    app[keys.INTENT_MODEL] = trained.model
    app[keys.UNDERSTAND] = Recent()
    log.info("intent model ready", extra={"examples": trained.examples, "seconds": round(trained.seconds, 3)})
    yield
