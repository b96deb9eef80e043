"""Import an external catalogue of service items (JSON lines) into `kb_items`.

`python server.py kb import FILE` reads the file, maps every row (`gd_mapping.map_row`), and
writes new and changed items in one transaction: a failure leaves the table as it was, and a
re-run with an unchanged file writes nothing (rows are compared by content hash). It prints how
many rows were imported, updated, unchanged, merged into a curated item and rejected, and why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.datafile import DataFileError
from core.db import create_engine
from core.migrate import migrate
from core.settings import Settings
from knowledge_base.catalogue import Catalogue, load_catalogue
from knowledge_base.gd_mapping import SOURCE, RowRejected, map_row, material_index
from knowledge_base.models import ImportedItem
from knowledge_base.schema import Item
from knowledge_base.text import name_key

log = logging.getLogger(__name__)

_LOOKUP_CHUNK = 500  # codes per IN (...) query; far below SQLite's and asyncpg's parameter limits
_LINES_SHOWN = 5


@dataclass
class ImportReport:
    """What one import did. imported + updated + unchanged + merged + len(rejected) == read."""

    read: int = 0
    imported: int = 0  # new rows
    updated: int = 0  # rows whose content changed
    unchanged: int = 0
    merged: int = 0  # rows duplicating a curated item (stored with merged_into)
    written: int = 0  # rows inserted or updated, merged ones included
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    notes: dict[str, list[int]] = field(default_factory=dict)  # adjustment → line numbers

    def note(self, line_no: int, text: str) -> None:
        self.notes.setdefault(text, []).append(line_no)

    def rejection_groups(self) -> dict[str, list[int]]:
        """Line numbers per rejection reason, most frequent reason first."""
        groups: dict[str, list[int]] = {}
        for line_no, reason in self.rejected:
            groups.setdefault(reason, []).append(line_no)
        return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def read_jsonl(path: Path | str) -> Iterator[tuple[int, dict[str, Any] | RowRejected]]:
    """Yield (line number, row) for each non-blank line; a line that is not a JSON object
    comes as (line number, RowRejected) so the import counts it instead of stopping.
    Raises OSError when the file cannot be opened."""
    with open(path, "rb") as file:
        for line_no, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                yield line_no, RowRejected("不是有效的 UTF-8 文本")
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                yield line_no, RowRejected("不是有效的 JSON")
                continue
            yield line_no, row if isinstance(row, dict) else RowRejected("不是 JSON 对象")


def content_hash(item: Item) -> str:
    """sha256 of the item's canonical JSON: equal items hash equal across runs and machines."""
    canonical = json.dumps(item.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _curated_names(catalogue: Catalogue) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in catalogue.items.values():
        for name in (item.name, *item.aliases):
            names.setdefault(name_key(name), item.code)
    return names


async def _existing(session: AsyncSession, codes: list[str]) -> dict[str, ImportedItem]:
    found: dict[str, ImportedItem] = {}
    for start in range(0, len(codes), _LOOKUP_CHUNK):
        chunk = codes[start:start + _LOOKUP_CHUNK]
        rows = await session.scalars(select(ImportedItem).where(ImportedItem.code.in_(chunk)))
        found.update((row.code, row) for row in rows)
    return found


async def import_items(session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any] | RowRejected]], *,
                       curated: Catalogue, now: datetime, source: str = SOURCE) -> ImportReport:
    """Map `rows` and upsert them into kb_items inside the caller's transaction.

    A TASK_CODE seen twice keeps its first valid row; later ones are rejected and reported
    rather than silently overwriting it. Rows no longer in the file are left alone.
    """
    report = ImportReport()
    materials = material_index(curated)
    accepted: dict[str, tuple[int, Item]] = {}
    for line_no, row in rows:
        report.read += 1
        notes: list[str] = []
        try:
            if isinstance(row, RowRejected):
                raise row
            item = map_row(row, materials, notes, source=source)
            if item.code in accepted:
                raise RowRejected("事项编码（TASK_CODE）在文件中重复，保留首次出现的行")
        except RowRejected as exc:
            report.rejected.append((line_no, exc.reason))
            continue
        except Exception:  # one odd row must not stop a catalogue import; the bug is logged
            log.exception("kb import: row could not be mapped", extra={"line": line_no})
            report.rejected.append((line_no, "无法处理的数据（内部错误，见日志）"))
            continue
        accepted[item.code] = (line_no, item)
        for text in dict.fromkeys(notes):
            report.note(line_no, text)

    curated_names = _curated_names(curated)
    existing = await _existing(session, list(accepted))
    for _line_no, item in accepted.values():
        merged_into = curated_names.get(name_key(item.name))
        outcome = _upsert(session, existing.get(item.code), item, merged_into, now, source)
        if outcome != "unchanged":
            report.written += 1
        if merged_into is not None:
            report.merged += 1
        elif outcome == "imported":
            report.imported += 1
        elif outcome == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
    await session.flush()
    return report


def _upsert(session: AsyncSession, row: ImportedItem | None, item: Item, merged_into: str | None,
            now: datetime, source: str) -> str:
    """Insert or update one item; "imported", "updated" or "unchanged" (nothing written)."""
    digest = content_hash(item)
    if row is None:
        session.add(ImportedItem(code=item.code, name=item.name, department=item.department, source=source,
                                 data=item.model_dump(mode="json"), content_hash=digest,
                                 merged_into=merged_into, created_at=now, updated_at=now))
        return "imported"
    # merged_into is compared too: a new curated alias turns an unchanged row into a merged one.
    if (row.content_hash, row.merged_into, row.source) == (digest, merged_into, source):
        return "unchanged"
    row.name, row.department, row.source, row.merged_into = item.name, item.department, source, merged_into
    row.data, row.content_hash, row.updated_at = item.model_dump(mode="json"), digest, now
    return "updated"


async def load_imported_items(session: AsyncSession) -> list[Item]:
    """The imported items that are not merged into a curated one (for the search index)."""
    stmt = select(ImportedItem.data).where(ImportedItem.merged_into.is_(None)).order_by(ImportedItem.code)
    items = []
    for data in await session.scalars(stmt):
        try:
            items.append(Item.model_validate(data))
        except ValidationError as exc:
            # Stored under an older schema; search works without it until the next import.
            log.warning("imported item no longer valid", extra={"code": data.get("code"), "error": str(exc)})
    return items


def _lines(numbers: list[int]) -> str:
    shown = "、".join(str(n) for n in numbers[:_LINES_SHOWN])
    return f"第 {shown} 行" + (" 等" if len(numbers) > _LINES_SHOWN else "")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "文件不存在"
    if isinstance(exc, PermissionError):
        return "没有读取权限"
    if isinstance(exc, IsADirectoryError):
        return "这是一个目录，不是文件"
    return exc.strerror or str(exc)


def _unreadable(path: Path) -> str | None:
    """Why the file cannot be opened, checked before anything touches the database."""
    try:
        with open(path, "rb"):
            return None
    except OSError as exc:
        return _os_reason(exc)


def format_report(report: ImportReport, file: str | Path) -> str:
    """The operator's summary: counts, then rejection reasons and notes with line numbers."""
    counts = (f"读取 {report.read} 行：新增 {report.imported}，更新 {report.updated}，未变 {report.unchanged}，"
              f"合并 {report.merged}，拒绝 {len(report.rejected)}（本次写入 {report.written} 行）")
    lines = [f"导入 {file}", counts]
    if report.merged:
        lines.append(f"合并：{report.merged} 行与已整理的事项同名，检索时显示已整理的事项")
    if report.rejected:
        lines.append("拒绝原因：")
        lines += [f"  {reason} ×{len(nums)}（{_lines(nums)}）" for reason, nums in report.rejection_groups().items()]
    if report.notes:
        lines.append("已导入但有调整：")
        notes = sorted(report.notes.items(), key=lambda kv: -len(kv[1]))
        lines += [f"  {text} ×{len(nums)}（{_lines(nums)}）" for text, nums in notes]
    return "\n".join(lines)


async def main(settings: Settings, file: str | Path, *, clock: Clock | None = None) -> int:
    """`python server.py kb import FILE`: import in one transaction and print the report.

    Returns 0 when the import ran (rejected rows included), 1 when the file cannot be read
    or the database refused the import (then nothing was written).
    """
    path = Path(file)
    problem = _unreadable(path)
    if problem:
        print(f"无法读取文件 {path}：{problem}", file=sys.stderr)
        return 1
    try:
        curated = load_catalogue()  # to merge duplicates and reuse material keys
    except DataFileError as exc:
        print(f"知识库数据有误 {exc.path}：" + "；".join(exc.problems), file=sys.stderr)
        return 1
    engine = create_engine(settings)
    try:
        if settings.migrate_on_start:
            await migrate(engine)
        async with async_sessionmaker(engine, expire_on_commit=False).begin() as session:
            report = await import_items(session, read_jsonl(path), curated=curated,
                                        now=(clock or Clock()).now(), source=SOURCE)
    except OSError as exc:
        print(f"读取文件 {path} 时出错，未写入任何数据：{_os_reason(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # the operator gets one line; the transaction rolled back
        # A database error's text carries the SQL and every row's parameters; its cause says enough.
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        log.error("kb import failed", exc_info=None if cause is not exc else exc, extra={"error": detail})
        print(f"导入失败，未写入任何数据：{detail}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(format_report(report, path))
    return 0
