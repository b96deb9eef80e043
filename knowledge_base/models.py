"""Tables of the knowledge base: service items imported from external catalogues.

Curated items and scenarios stay in the YAML data files; only imported items (thousands of
rows, re-imported as publishers update them) live in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AwareDateTime, Base

# Names are indexed; a btree entry must stay well under PostgreSQL's ~2.7 kB limit, so the
# importer truncates longer names to this many characters.
NAME_MAX_CHARS = 500


class ImportedItem(Base):
    """One imported service item (事项), keyed by the publisher's item code (TASK_CODE).

    `data` is the whole `knowledge_base.schema.Item` as JSON; `content_hash` is the sha256 of
    its canonical JSON, so a re-import of an unchanged row writes nothing. `merged_into` names
    the curated item this row duplicates: search shows the curated one instead.
    """

    __tablename__ = "kb_items"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS), index=True)
    department: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    merged_into: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())
