"""Search over scenarios (一件事) and service items (事项).

Two stages, both cheap enough for thousands of queries a second:

1. Recall: a field-weighted BM25 over jieba words and character bigrams, accumulated with
   numpy over an inverted index. Bigrams keep a typo'd query partly matching (开饭点 still
   shares 开饭 with 开饭店).
2. Rerank of the best few dozen: how much of the query's information the document covers
   (idf-weighted), and rapidfuzz similarity of the query to the document's names and aliases.

The final score lies in [0, 1] and means the same for every query, so a caller can tell a
confident hit from a guess. "我要开/办 X" queries prefer scenarios; curated items are preferred
over imported ones with the same standing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from knowledge_base.schema import Item, Scenario
from knowledge_base.text import SCENARIO_INTENT, STOPWORDS, Analyzer, name_key

K1, B = 1.2, 0.75
RECALL = 40
NAME_WEIGHT, KEYWORD_WEIGHT, CONTEXT_WEIGHT = 3.0, 2.0, 0.4
SCENARIO_BOOST, CURATED_BOOST, EXACT_BOOST = 0.12, 0.04, 0.3
CONFIDENT_SCORE, CONFIDENT_MARGIN = 0.55, 0.04


@dataclass(frozen=True)
class Doc:
    kind: str  # "scenario" or "item"
    id: str  # scenario id or item code
    name: str
    department: str
    curated: bool
    names: tuple[str, ...]  # name and aliases, prepared, for fuzzy matching


@dataclass(frozen=True)
class Hit:
    doc: Doc
    score: float  # 0..1


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[Hit]
    confident: bool  # the first hit is a confident answer, not a guess


def _content(analyzer: Analyzer, prepared: str) -> str:
    return "".join(w for w in analyzer.words(prepared) if w not in STOPWORDS) or prepared.replace(" ", "")


class SearchIndex:
    """An immutable index; build a new one when the catalogue changes."""

    def __init__(self, analyzer: Analyzer, scenarios: Iterable[Scenario], items: Iterable[Item], curated_codes: set[str]):
        self.analyzer = analyzer
        self.docs: list[Doc] = []
        self._exact: dict[str, list[int]] = {}  # name_key of a name or alias → documents
        fields: list[list[tuple[str, float, bool]]] = []
        scenarios = list(scenarios)
        self._bundles = {sc.id: frozenset(sc.items).union(*(o.adds_items for q in sc.questions for o in q.options))
                         for sc in scenarios}
        for sc in scenarios:
            self._add(sc.name, sc.aliases, "scenario", sc.id, sc.lead_department, True,
                      [(k, KEYWORD_WEIGHT) for k in sc.keywords] + [(sc.summary, CONTEXT_WEIGHT)], fields)
        for item in items:
            self._add(item.name, item.aliases, "item", item.code, item.department, item.code in curated_codes,
                      [(item.department, CONTEXT_WEIGHT)], fields)
        self._build(fields)

    def _add(self, name: str, aliases: list[str], kind: str, doc_id: str, department: str, curated: bool,
             extra: list[tuple[str, float]], fields: list[list[tuple[str, float, bool]]]) -> None:
        for exact in {name_key(n) for n in (name, *aliases)}:
            self._exact.setdefault(exact, []).append(len(self.docs))
        names = [self.analyzer.prepare(n) for n in (name, *aliases)]
        self.docs.append(Doc(kind, doc_id, name, department, curated,
                             tuple(_content(self.analyzer, n) for n in names)))
        fields.append([(n, NAME_WEIGHT, True) for n in names] + [(self.analyzer.prepare(t), w, False) for t, w in extra])

    def _build(self, fields: list[list[tuple[str, float, bool]]]) -> None:
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        lengths = np.zeros(len(self.docs))
        for index, doc_fields in enumerate(fields):
            for text, weight, pinyin in doc_fields:
                for term in set(self.analyzer.terms(text, pinyin=pinyin)):
                    # A term counts once per field; repeated across name and aliases, it adds up
                    # to at most twice the field weight, so long alias lists do not dominate.
                    postings[term][index] = min(postings[term].get(index, 0.0) + weight, 2 * weight)
                    lengths[index] += weight
        n = len(self.docs)
        avg = lengths.mean() if n else 1.0
        norm = K1 * (1 - B + B * lengths / avg)
        self._idf: dict[str, float] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, docs in postings.items():
            idx = np.fromiter(docs.keys(), dtype=np.int64, count=len(docs))
            tf = np.fromiter(docs.values(), dtype=np.float64, count=len(docs))
            idf = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            self._idf[term] = idf
            self._postings[term] = (idx, idf * tf * (K1 + 1) / (tf + norm[idx]))
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # a term no document has: most informative
        self._names = [list(d.names) for d in self.docs]
        self._kinds = np.array([d.kind == "scenario" for d in self.docs], dtype=bool)
        self._curated = np.array([d.curated for d in self.docs], dtype=np.float64)

    def search(self, query: str, limit: int = 10, kind: str | None = None) -> SearchResult:
        """The best `limit` documents for `query` (optionally only scenarios or items)."""
        prepared = self.analyzer.prepare(query)
        terms = list(dict.fromkeys(self.analyzer.terms(prepared, pinyin=True)))
        known = [t for t in terms if t in self._postings]
        if not known:
            return SearchResult(query, [], False)
        postings = [self._postings[t] for t in known]
        idx = np.concatenate([p[0] for p in postings])
        scores = np.bincount(idx, weights=np.concatenate([p[1] for p in postings]), minlength=len(self.docs))
        top = np.argpartition(-scores, min(RECALL, len(scores) - 1))[:RECALL]
        top = top[scores[top] > 0]
        exact = self._exact.get(name_key(query), [])
        if exact:
            top = np.union1d(top, exact)
        if kind is not None:
            top = top[self._kinds[top] == (kind == "scenario")]
        if not len(top):
            return SearchResult(query, [], False)
        # Coverage: the share of the query's information (idf) each candidate contains.
        idf = np.repeat([self._idf[t] for t in known], [len(p[0]) for p in postings])
        total_idf = sum(self._idf.get(t, self._unseen_idf) for t in terms)
        coverage = np.bincount(idx, weights=idf, minlength=len(self.docs))[top] / total_idf
        # Similarity of the query to each candidate's best-matching name, in two C calls.
        names = [self._names[i] for i in top.tolist()]
        flat = [n for group in names for n in group]
        content = [_content(self.analyzer, prepared)]
        ratio = np.maximum(process.cdist(content, flat, scorer=fuzz.ratio)[0],
                           0.9 * process.cdist(content, flat, scorer=fuzz.partial_ratio)[0])
        starts = np.cumsum([0] + [len(g) for g in names[:-1]])
        similarity = np.maximum.reduceat(ratio, starts) / 100
        raw = 0.5 * coverage + 0.5 * similarity + CURATED_BOOST * self._curated[top]
        if exact:  # typing a name exactly is the strongest signal there is
            raw += EXACT_BOOST * np.isin(top, exact)
        if SCENARIO_INTENT.match(prepared):
            raw += SCENARIO_BOOST * self._kinds[top]
        # Boosts may lift a raw score above 1: rank by it, show it clamped to [0, 1].
        ranked = sorted(zip(raw.tolist(), (self.docs[i] for i in top.tolist())),
                        key=lambda r: (-r[0], r[1].kind != "scenario", r[1].id))
        hits = [Hit(doc, round(min(score, 1.0), 4)) for score, doc in ranked[:limit]]
        return SearchResult(query, hits, self._confident(ranked))

    def _confident(self, ranked: list[tuple[float, Doc]]) -> bool:
        """A clear first hit: high enough, and ahead of the next one that is a different thing.
        A scenario's own component item close behind it is not a rival."""
        if not ranked or ranked[0][0] < CONFIDENT_SCORE:
            return False
        best, first = ranked[0]
        bundled = self._bundles.get(first.id, frozenset()) if first.kind == "scenario" else frozenset()
        for raw, doc in ranked[1:]:
            if doc.kind == "item" and doc.id in bundled:
                continue
            return best - raw >= CONFIDENT_MARGIN
        return True
