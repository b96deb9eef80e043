"""Small durable facts about the deployment itself, e.g. the calendar version in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AwareDateTime, Base


class SystemState(Base):
    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


async def read_for_update(session: AsyncSession, key: str) -> SystemState | None:
    """The row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
    return (await session.execute(select(SystemState).where(SystemState.key == key).with_for_update())).scalar_one_or_none()


async def write(session: AsyncSession, key: str, value: Any, now: datetime) -> None:
    row = await session.get(SystemState, key)
    if row is None:
        session.add(SystemState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
