"""The intent classifier: features of a message and a softmax regression over them.

Features are strings: jieba words (stopwords kept: 怎么 and 进度 are what tell intents apart),
character unigrams and bigrams (a typo'd word still shares most of them), syllable bigrams
(同音字), the kinds of entity found (<sx>, <gd>, …) and the message's shape (length, question,
several sentences). A message's vector is binary and divided by the square root of its feature
count, unknown features included, so a message made mostly of words the examples never used
gets small logits and therefore an unsure answer: what sends it to out_of_scope.

Training is full-batch gradient descent (Adam) with L2 regularisation over ~1,000 examples in
numpy; it takes about a second and happens once per process.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.datafile import load_model
from knowledge_base.text import Analyzer, pinyin_bigrams

Intent = Literal["greet", "help", "guide", "progress_query", "complaint_file", "complaint_status", "my_documents",
                 "rating", "handoff", "out_of_scope"]
INTENTS: tuple[str, ...] = get_args(Intent)
DATA_DIR = Path(__file__).parent / "data"
GUIDE_TEMPLATES = DATA_DIR / "guide_templates.yaml"
MAX_CHARS = 240  # a long complaint's first sentences say what it is; the rest adds only cost
_PLACEHOLDER = re.compile(r"<(sx|gd|id|phone|date)>")
_QUESTION = re.compile(r"[?？]|[吗呢么嘛]\s*$")
_SENTENCE_END = re.compile(r"[。！!？?；;]\s*\S")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# A named place or public body: appeals name where the problem is, how-to questions rarely do.
_PLACE = re.compile(r"[\w]{1,10}?(?:省|市|县|区|镇|乡|村|街道|社区|小区|花园|广场|公园|大道|路|街|巷|学校|中学|小学|幼儿园|医院|公司|集团)")


class IntentExamples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keywords: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class ExampleFile(BaseModel):
    """One file of examples; several files may each add to some of the intents."""

    model_config = ConfigDict(extra="forbid")
    intents: dict[Intent, IntentExamples]


def _length_bucket(n: int) -> str:
    for limit, name in ((0, "0"), (2, "1-2"), (4, "3-4"), (8, "5-8"), (16, "9-16"), (40, "17-40")):
        if n <= limit:
            return name
    return "41+"


@dataclass(frozen=True)
class Features:
    names: list[str]
    content: str  # the words of the message, entities and punctuation removed


def features(analyzer: Analyzer, marked: str) -> Features:
    """Features of a message whose entities are already replaced by placeholders (see entities)."""
    kinds = _PLACEHOLDER.findall(marked)
    rest = _PLACEHOLDER.sub(" ", marked)
    prepared = analyzer.prepare(rest[:MAX_CHARS])
    tokens = analyzer.tokens(prepared)
    content = "".join(tokens)
    chars = [c for c in content if "\u4e00" <= c <= "\u9fff"]
    names = ["w:" + t for t in tokens] + ["c:" + c for c in chars]
    names += ["b:" + a + b for a, b in zip(chars, chars[1:])] + pinyin_bigrams(content)
    names += ["e:" + k for k in kinds] + ["len:" + _length_bucket(len(content))]
    if not _CJK.search(content) and content:
        names.append("shape:latin")
    if content.isdigit():
        names.append("shape:digits")
    if kinds and not content:
        names.append("shape:only-entities")
    if _PLACE.search(rest):
        names.append("shape:place")
    if _QUESTION.search(rest):
        names.append("shape:question")
    if len(_SENTENCE_END.findall(rest)) >= 2:
        names.append("shape:sentences")
    return Features(list(dict.fromkeys(names)), content)


UNKNOWN_WEIGHT = 0.5
EPOCHS, RATE, L2, MIN_COUNT = 200, 0.2, 1e-5, 1
OUT_OF_SCOPE_WEIGHT = 0.5


def _scale(known: int, unknown: int) -> float:
    """Each feature's share of a message: unknown features dilute the known ones, less than fully."""
    return 1 / math.sqrt(max(known + UNKNOWN_WEIGHT * unknown, 1))


class IntentModel:
    """Softmax regression: weights (features × intents) and a bias per intent."""

    def __init__(self, vocabulary: dict[str, int], weights: np.ndarray, bias: np.ndarray):
        self.vocabulary = vocabulary
        self.weights = weights
        self.bias = bias

    def probabilities(self, names: list[str]) -> dict[str, float]:
        known = [self.vocabulary[n] for n in names if n in self.vocabulary]
        logits = self.bias + self.weights[known].sum(axis=0) * _scale(len(known), len(names) - len(known))
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        return dict(zip(INTENTS, probs.tolist()))


def train(samples: list[tuple[list[str], str]], *, epochs: int = EPOCHS, rate: float = RATE,
          l2: float = L2, min_count: int = MIN_COUNT) -> IntentModel:
    """Fit the model on (feature names, intent) samples. A feature seen in fewer than
    `min_count` samples is left out of the vocabulary (and counts as unknown, as it would
    in a message)."""
    seen = Counter(name for names, _ in samples for name in names)
    vocabulary = {name: i for i, name in enumerate(n for n, c in seen.items() if c >= min_count)}
    rows, cols, values, labels = [], [], [], []
    for row, (names, intent) in enumerate(samples):
        known = [vocabulary[n] for n in names if n in vocabulary]
        rows += [row] * len(known)
        cols += known
        values += [_scale(len(known), len(names) - len(known))] * len(known)
        labels.append(INTENTS.index(intent))
    rows_a, cols_a, values_a = np.array(rows), np.array(cols), np.array(values, dtype=np.float32)
    n, v, k = len(samples), len(vocabulary), len(INTENTS)
    target = np.zeros((n, k), dtype=np.float32)
    target[np.arange(n), labels] = 1
    # out_of_scope is also what an unsure reading becomes, so its own examples count for less
    sample_weight = np.where(np.array(labels) == INTENTS.index("out_of_scope"), OUT_OF_SCOPE_WEIGHT, 1.0)[:, None]
    weights, bias = np.zeros((v, k), dtype=np.float32), np.zeros(k, dtype=np.float32)
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros_like(bias), np.zeros_like(bias)]
    present, starts = np.unique(rows_a, return_index=True)  # rows_a is sorted; a sample may have no known feature
    for step in range(1, epochs + 1):
        logits = np.tile(bias, (n, 1))
        logits[present] += np.add.reduceat(weights[cols_a] * values_a[:, None], starts, axis=0)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - target) * sample_weight / n
        grad_w = _column_sums(cols_a, error[rows_a] * values_a[:, None], v) + l2 * weights
        grad_b = error.sum(axis=0)
        for param, grad, m, s in ((weights, grad_w, moments[0], moments[1]), (bias, grad_b, moments[2], moments[3])):
            m *= 0.9
            m += 0.1 * grad
            s *= 0.999
            s += 0.001 * grad * grad
            param -= rate * (m / (1 - 0.9 ** step)) / (np.sqrt(s / (1 - 0.999 ** step)) + 1e-8)
    return IntentModel(vocabulary, weights, bias)


def _column_sums(index: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Sum `rows[i]` into row `index[i]` of a (size × intents) array: the sparse product Xᵀ·E."""
    return np.stack([np.bincount(index, weights=rows[:, j], minlength=size) for j in range(rows.shape[1])],
                    axis=1).astype(np.float32)


class TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    templates: list[Annotated[str, Field(pattern=r"\{name\}")]] = Field(min_length=1)


def guide_examples(names: list[str], path: Path = GUIDE_TEMPLATES) -> list[tuple[str, str]]:
    """Each service name asked about in one of the templates, in turn."""
    templates = load_model(path, TemplateFile).templates
    return [(templates[i % len(templates)].format(name=name), "guide") for i, name in enumerate(names)]


def load_examples(directory: Path = DATA_DIR) -> list[tuple[str, str]]:
    """(text, intent) from every example file; every intent must have some."""
    samples = []
    for path in sorted(directory.glob("*.yaml")):
        if path == GUIDE_TEMPLATES:
            continue
        for intent, data in load_model(path, ExampleFile).intents.items():
            samples += [(text, intent) for text in [*data.keywords, *data.examples]]
    missing = set(INTENTS) - {intent for _, intent in samples}
    if missing:
        raise ValueError(f"{directory} 中没有这些意图的样例：{', '.join(sorted(missing))}")
    return samples
