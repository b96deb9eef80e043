"""Search quality on labelled queries: `python server.py kb eval` prints top-1 and top-3 accuracy.

Labelled files (YAML) hold `queries: [{q: ..., expect: [scenario:<id> | item:<code>, ...]}]`;
any listed answer counts as right. An out-of-scope file holds `queries: [text, ...]` that must
not get a confident hit. The knowledge base is the one the service would serve: curated files
plus the items imported into the configured database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.datafile import load_model
from core.db import create_engine
from core.settings import REPO_ROOT, Settings
from knowledge_base.service import KnowledgeBase, load_knowledge_base

DEV_SETS = [REPO_ROOT / "tests" / "data" / "kb_queries.yaml", REPO_ROOT / "tests" / "data" / "kb_imported_paraphrases.yaml"]
OUT_OF_SCOPE = REPO_ROOT / "tests" / "data" / "kb_out_of_scope.yaml"


class LabelledQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1)
    expect: list[str] = Field(min_length=1)


class LabelledFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queries: list[LabelledQuery]


class PlainFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queries: list[str]


@dataclass
class Evaluation:
    total: int = 0
    top1: int = 0
    top3: int = 0
    misses: list[tuple[str, list[str], list[str]]] = field(default_factory=list)  # query, expected, got

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.total if self.total else 0.0

    @property
    def top3_rate(self) -> float:
        return self.top3 / self.total if self.total else 0.0


def evaluate(kb: KnowledgeBase, queries: list[LabelledQuery]) -> Evaluation:
    """Top-1 and top-3 accuracy of `kb.search` on `queries`."""
    result = Evaluation()
    for query in queries:
        got = [f"{h.doc.kind}:{h.doc.id}" for h in kb.search(query.q, limit=3).hits]
        result.total += 1
        result.top1 += bool(got) and got[0] in query.expect
        result.top3 += any(g in query.expect for g in got)
        if not got or got[0] not in query.expect:
            result.misses.append((query.q, query.expect, got))
    return result


def confident_rate(kb: KnowledgeBase, queries: list[str]) -> tuple[float, list[str]]:
    """Share of queries that got a confident hit, and those queries."""
    confident = [q for q in queries if kb.search(q, limit=3).confident]
    return (len(confident) / len(queries) if queries else 0.0), confident


def _print(name: str, result: Evaluation, kb: KnowledgeBase) -> None:
    print(f"{name}: {result.total} 条  top-1 {result.top1_rate:.1%}  top-3 {result.top3_rate:.1%}")
    for q, expected, got in result.misses[:25]:
        names = [_name(kb, g) for g in got]
        print(f"  ✗ {q}  期望 {expected}  得到 {names}")


def _name(kb: KnowledgeBase, ref: str) -> str:
    kind, _, ident = ref.partition(":")
    return kb.catalogue.scenarios[ident].name if kind == "scenario" else kb.items[ident].name


async def load_served_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The knowledge base as the service would load it from `settings`' database."""
    from knowledge_base.importer import load_imported_items

    engine = create_engine(settings)
    try:
        async with async_sessionmaker(engine)() as session:
            imported = await load_imported_items(session)
    finally:
        await engine.dispose()
    return load_knowledge_base(imported)


async def main(settings: Settings, files: list[Path] | None = None) -> int:
    kb = await load_served_knowledge_base(settings)
    print(f"知识库：{len(kb.catalogue.scenarios)} 个场景，{len(kb.items)} 个事项（载入 {kb.load_seconds:.2f} 秒）")
    for path in files or [p for p in DEV_SETS if p.exists()]:
        _print(path.name, evaluate(kb, load_model(path, LabelledFile).queries), kb)
    if OUT_OF_SCOPE.exists():
        rate, confident = confident_rate(kb, load_model(OUT_OF_SCOPE, PlainFile).queries)
        print(f"{OUT_OF_SCOPE.name}: 误判为确定命中 {rate:.1%}" + (f"：{confident}" if confident else ""))
    return 0
