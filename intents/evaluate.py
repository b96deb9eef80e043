"""How well messages are understood: `python server.py nlu eval` prints, for each labelled file,
accuracy, per-intent precision and recall, the confusion matrix and the worst misses; then the
share of real 12345 complaint titles read as complaints and of out-of-domain inputs read as
out_of_scope.

Labelled files hold `utterances: [{text, intent, target?}]` (target: scenario:<id> or
item:<code>); the out-of-domain file holds `texts: [...]`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from core.datafile import load_model
from core.settings import REPO_ROOT, Settings
from intents.model import INTENTS, Intent, IntentModel
from intents.service import train_intent_model
from intents.understanding import Understanding, understand
from knowledge_base.service import KnowledgeBase

TEST_DATA = REPO_ROOT / "tests" / "data"
DEV_SET, HOLDOUT_SET = TEST_DATA / "nlu_dev.yaml", TEST_DATA / "nlu_holdout.yaml"
OUT_OF_DOMAIN = TEST_DATA / "nlu_out_of_domain.yaml"
COMPLAINT_TITLES = REPO_ROOT.parent / "shared" / "datasets" / "tipdm2020_messages_labeled.jsonl"
AS_COMPLAINT = {"complaint_file", "complaint_status"}
EVALUATION_DAY = date(2026, 11, 18)


class Utterance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    intent: Intent
    target: str | None = Field(default=None, pattern=r"^(scenario|item):\S+$")


class LabelledFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    utterances: list[Utterance] = Field(min_length=1)


class TextsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1)


@dataclass
class Evaluation:
    confusion: Counter = field(default_factory=Counter)  # (expected, got) → count
    misses: list[tuple[Utterance, Understanding]] = field(default_factory=list)
    targets: int = 0  # guide utterances with a labelled target, read as guide
    targets_right: int = 0

    @property
    def total(self) -> int:
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float:
        right = sum(n for (expected, got), n in self.confusion.items() if expected == got)
        return right / self.total if self.total else 0.0

    def recall(self, intent: str) -> float | None:
        support = sum(n for (expected, _), n in self.confusion.items() if expected == intent)
        return self.confusion[intent, intent] / support if support else None

    def precision(self, intent: str) -> float | None:
        predicted = sum(n for (_, got), n in self.confusion.items() if got == intent)
        return self.confusion[intent, intent] / predicted if predicted else None

    def support(self, intent: str) -> int:
        return sum(n for (expected, _), n in self.confusion.items() if expected == intent)


def evaluate(model: IntentModel, kb: KnowledgeBase, utterances: list[Utterance],
             today: date = EVALUATION_DAY) -> Evaluation:
    result = Evaluation()
    for utterance in utterances:
        got = understand(utterance.text, model, kb, today)
        result.confusion[utterance.intent, got.intent] += 1
        if got.intent != utterance.intent:
            result.misses.append((utterance, got))
        elif utterance.target and got.intent == "guide":
            result.targets += 1
            result.targets_right += got.target is not None and f"{got.target.kind}:{got.target.id}" == utterance.target
    result.misses.sort(key=lambda miss: -miss[1].confidence)  # the most confident mistakes first
    return result


def share_read_as(model: IntentModel, kb: KnowledgeBase, texts: list[str], intents: set[str],
                  today: date = EVALUATION_DAY) -> tuple[float, list[tuple[str, Understanding]]]:
    """The share of `texts` read as one of `intents`, and the others with how they were read."""
    others = [(t, u) for t in texts if (u := understand(t, model, kb, today)).intent not in intents]
    return (1 - len(others) / len(texts) if texts else 0.0), others


def complaint_titles(path: Path = COMPLAINT_TITLES) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["title"] for line in lines if line.strip()]


def _percent(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


def report(name: str, result: Evaluation, misses: int = 20) -> None:
    print(f"\n{name}: {result.total} 条  准确率 {result.accuracy:.1%}"
          + (f"  办事目标正确 {result.targets_right}/{result.targets}" if result.targets else ""))
    print(f"  {'intent':<17}{'support':>8}{'precision':>10}{'recall':>8}")
    for intent in INTENTS:
        print(f"  {intent:<17}{result.support(intent):>8}{_percent(result.precision(intent)):>10}"
              f"{_percent(result.recall(intent)):>8}")
    short = [i[:6] for i in INTENTS]
    print("  混淆矩阵（行：标注，列：识别）")
    print("  " + " " * 17 + "".join(f"{s:>7}" for s in short))
    for expected in INTENTS:
        print(f"  {expected:<17}" + "".join(f"{result.confusion[expected, got] or '.':>7}" for got in INTENTS))
    if result.misses:
        print(f"  最有把握的错误（前 {min(misses, len(result.misses))} 条）")
    for utterance, got in result.misses[:misses]:
        print(f"    ✗ {utterance.text[:40]}  标注 {utterance.intent}  识别 {got.intent} {got.confidence:.2f}")


def _report_share(name: str, rate: float, total: int, others: list[tuple[str, Understanding]]) -> None:
    print(f"\n{name}: {total} 条  {rate:.1%}")
    for text, got in others[:15]:
        print(f"    ✗ {text[:40]}  识别 {got.intent} {got.confidence:.2f}")


async def main(settings: Settings, files: list[Path] | None = None) -> int:
    from knowledge_base.evaluate import load_served_knowledge_base

    kb = await load_served_knowledge_base(settings)
    trained = train_intent_model(kb)
    print(f"知识库 {len(kb.items)} 个事项；意图模型 {trained.examples} 条样例（训练 {trained.seconds:.2f} 秒）")
    for path in files or [p for p in (DEV_SET, HOLDOUT_SET) if p.exists()]:
        report(path.name, evaluate(trained.model, kb, load_model(path, LabelledFile).utterances))
    if OUT_OF_DOMAIN.exists():
        texts = load_model(OUT_OF_DOMAIN, TextsFile).texts
        rate, others = share_read_as(trained.model, kb, texts, {"out_of_scope"})
        _report_share(f"{OUT_OF_DOMAIN.name}（识别为 out_of_scope）", rate, len(texts), others)
    if COMPLAINT_TITLES.exists():
        titles = complaint_titles()
        rate, others = share_read_as(trained.model, kb, titles, AS_COMPLAINT)
        _report_share(f"{COMPLAINT_TITLES.name} 标题（识别为 complaint_file / complaint_status）", rate, len(titles), others)
    return 0
