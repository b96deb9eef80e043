"""From a message to what it means: intent, confidence, target, entities and alternatives.

1. Fold the text (width, script, case) and take out the entities.
2. A message that is only an application number means progress_query, only a ticket number
   complaint_status: nothing else is to be read from it.
3. The classifier gives a probability per intent.
4. When guide is a plausible reading, the knowledge base search names the target. A guide
   reading is only as good as its target: with no clear match its confidence is cut, so the
   answer is never a confident guide to the wrong thing. A short message that names a service
   exactly (护照, 居住证) is guide even when the classifier knew none of its words.
5. Below THRESHOLD the answer is out_of_scope; readings close to the chosen one are listed
   as alternatives, so the bot can ask which was meant.
6. A GD or SX number settles an unsure reading, or one of the lookups and small talk
   ("GD20261118000042办得怎么样了", "你好，SX…"): it says which lookup is meant, and the
   readings it settled are no alternatives. Every channel (the bot, /api/v1/nlu/parse) gets
   that same answer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

from intents.entities import Entities, extract
from intents.model import IntentModel, features
from knowledge_base.service import KnowledgeBase
from knowledge_base.text import fold

THRESHOLD = 0.5  # below it nothing is sure enough: out_of_scope
CLOSE = 0.25  # a reading this near the chosen one is offered as an alternative
ALTERNATIVE_MIN = 0.15  # … if it is at least this likely
GUIDE_CANDIDATE = 0.25  # search the knowledge base when guide is at least this likely
UNSURE_TARGET, NO_TARGET = 0.85, 0.7  # guide confidence kept when the target is unsure / missing
PLAUSIBLE_TARGET = 0.4  # a search score worth offering as "did you mean"
NAMED_TARGET = 0.75  # a search score that, confident and on a short message, names the service
TIE = 0.03  # a second target this close makes the first unsure
SHORT_MESSAGE = 8  # characters
UNCLEAR = 0.3  # a short message this likely out_of_scope may still name a service
NUMBER_ALONE = 0.99  # confidence of a message that is only a GD or SX number
NAMED_LOOKUP = 0.9  # at least this sure of the lookup a message's number names
SETTLED_BY_NUMBER = {"progress_query", "complaint_status", "greet", "help"}  # readings a number may override
RECENT_MESSAGES = 4096  # readings a running service keeps (`Recent`)
RECENT_LONGEST = 40  # characters: longer messages (complaints, stories) seldom come twice


@dataclass(frozen=True)
class Target:
    kind: str  # scenario or item
    id: str
    name: str
    score: float  # how well the message matches it, 0–1


@dataclass(frozen=True)
class Reading:
    intent: str
    confidence: float
    target: Target | None = None


@dataclass(frozen=True)
class Understanding:
    text: str
    intent: str
    confidence: float
    target: Target | None
    entities: Entities
    alternatives: list[Reading]

    def as_dict(self) -> dict:
        return {"intent": self.intent, "confidence": self.confidence, "target": _target(self.target),
                "entities": self.entities.as_dict(),
                "alternatives": [{"intent": r.intent, "confidence": r.confidence, "target": _target(r.target)}
                                 for r in self.alternatives]}


def _target(target: Target | None) -> dict | None:
    return None if target is None else {"kind": target.kind, "id": target.id, "name": target.name,
                                        "score": target.score}


def understand(text: str, model: IntentModel, kb: KnowledgeBase, today: date) -> Understanding:
    """Read one message. `today` resolves relative dates (上周, 昨天)."""
    entities, marked = extract(fold(text), today)
    feats = features(kb.index.analyzer, marked)
    if not feats.content:
        return _without_words(text, entities)
    probs = model.probabilities(feats.names)
    readings = {intent: Reading(intent, p) for intent, p in probs.items()}
    guide_options: list[Reading] = []
    leading = max((i for i in probs if i != "out_of_scope"), key=probs.__getitem__)
    unclear_word = len(feats.content) <= SHORT_MESSAGE and probs["out_of_scope"] >= UNCLEAR
    if leading == "guide" or probs["guide"] >= GUIDE_CANDIDATE or unclear_word:
        readings["guide"], guide_options = _guide(text, probs, len(feats.content), kb)
    ranked = sorted((r for r in readings.values() if r.intent != "out_of_scope"), key=lambda r: -r.confidence)
    best = ranked[0]
    unsure = best.confidence < THRESHOLD or probs["out_of_scope"] > best.confidence
    lookup = _lookup_named(entities)
    if lookup is not None and (unsure or best.intent in SETTLED_BY_NUMBER):
        best, unsure = Reading(lookup, max(readings[lookup].confidence, NAMED_LOOKUP)), False
        ranked = [r for r in ranked if r.intent not in SETTLED_BY_NUMBER]  # settled: no longer alternatives
    if unsure:
        doubt = max(probs["out_of_scope"], 1 - best.confidence)
        alternatives = [r for r in ranked if r.confidence >= ALTERNATIVE_MIN][:3]
        return Understanding(text, "out_of_scope", _round(doubt), None, entities, _rounded(alternatives))
    alternatives = [r for r in ranked if r.intent != best.intent
                    and r.confidence >= max(ALTERNATIVE_MIN, best.confidence - CLOSE)]
    if best.intent == "guide":
        alternatives = guide_options + alternatives
    return Understanding(text, best.intent, _round(best.confidence), best.target, entities,
                         _rounded(alternatives[:3]))


class Recent:
    """`understand` as a running service calls it, keeping the readings of recent short messages:
    the same words come again and again (你好, 转人工, 居住证怎么办理, a menu's reply), and
    reading one costs about half a millisecond of the turn. A reading depends only on the text,
    the model, the knowledge base and the day, so a new model, knowledge base or day starts
    afresh. Callers share what it returns and must not change it."""

    def __init__(self, size: int = RECENT_MESSAGES):
        self._size = size
        self._basis: tuple[IntentModel, KnowledgeBase, date] | None = None
        self._kept: OrderedDict[str, Understanding] = OrderedDict()

    def __call__(self, text: str, model: IntentModel, kb: KnowledgeBase, today: date) -> Understanding:
        if len(text) > RECENT_LONGEST:
            return understand(text, model, kb, today)
        basis = self._basis
        if basis is None or basis[0] is not model or basis[1] is not kb or basis[2] != today:
            self._basis, self._kept = (model, kb, today), OrderedDict()
        found = self._kept.get(text)
        if found is not None:
            self._kept.move_to_end(text)
            return found
        found = self._kept[text] = understand(text, model, kb, today)
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return found


def _lookup_named(entities: Entities) -> str | None:
    """The lookup a message's number names: progress_query for an application number,
    complaint_status for a ticket number; None for neither, or both (which one is unclear)."""
    if entities.application_no and not entities.ticket_no:
        return "progress_query"
    if entities.ticket_no and not entities.application_no:
        return "complaint_status"
    return None


def _without_words(text: str, entities: Entities) -> Understanding:
    """A message that is only numbers, dates or punctuation."""
    lookup = _lookup_named(entities)
    if lookup is not None:
        return Understanding(text, lookup, NUMBER_ALONE, None, entities, [])
    if entities.application_no and entities.ticket_no:
        both = [Reading("progress_query", 0.5), Reading("complaint_status", 0.5)]
        return Understanding(text, "out_of_scope", 0.5, None, entities, both)
    return Understanding(text, "out_of_scope", 0.9, None, entities, [])


def _guide(text: str, probs: dict[str, float], length: int, kb: KnowledgeBase) -> tuple[Reading, list[Reading]]:
    """The guide reading with its target, and the other targets worth offering."""
    result = kb.search(text, limit=3)
    hits = [Target(h.doc.kind, h.doc.id, h.doc.name, h.score) for h in result.hits]
    p = probs["guide"]
    if not hits or hits[0].score < PLAUSIBLE_TARGET:
        return Reading("guide", p * NO_TARGET), []
    first = hits[0]
    tied = len(hits) > 1 and hits[1].score >= first.score - TIE  # 办证: a word in many names
    if result.confident and not tied:
        if length <= SHORT_MESSAGE and first.score >= NAMED_TARGET and probs["out_of_scope"] + p > 0.5:
            p = max(p, 0.9 * first.score)  # the message names a service the examples never did
        return Reading("guide", p, first), []
    unsure = p * UNSURE_TARGET
    others = [Reading("guide", unsure * t.score / first.score, t) for t in hits[1:] if t.score >= PLAUSIBLE_TARGET]
    return Reading("guide", unsure, first), others


def _round(value: float) -> float:
    return round(float(value), 3)


def _rounded(readings: list[Reading]) -> list[Reading]:
    return [Reading(r.intent, _round(r.confidence), r.target) for r in readings]
