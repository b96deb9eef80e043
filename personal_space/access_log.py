"""The data tracker: who other than the owner read a person's or an enterprise's data, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personal_space.models import AccessRecord

# Who read (AccessRecord.reader_type): a member of the enterprise, hotline or department staff, a
# clerk checking a 亮证 code, whoever gave an application's query password, or whoever read a
# ticket in the chat by the phone it was filed with.
ENTERPRISE_MEMBER, STAFF, VERIFIER, QUERY_PASSWORD = "enterprise_member", "staff", "verifier", "query_password"
CONTACT_PHONE = "contact_phone"  # a ticket read in the chat by the phone it was filed with
READER_TYPES = (ENTERPRISE_MEMBER, STAFF, VERIFIER, QUERY_PASSWORD, CONTACT_PHONE)
ReaderType = Literal[READER_TYPES]


class Reader(Protocol):
    """A reader known by ID number (a Person, or the bot's view of one)."""

    id_number: str
    name: str


async def record(session: AsyncSession, subject_type: str, subject_id: str, reader_type: str, reader_id: str,
                 reader_name: str, resource: str, at: datetime) -> None:
    """Note one read, in the same transaction as the read itself."""
    session.add(AccessRecord(subject_type=subject_type, subject_id=subject_id, reader_type=reader_type,
                             reader_id=reader_id, reader_name=reader_name, resource=resource, at=at))


async def reads_of(session: AsyncSession, subject_type: str, subject_id: str, limit: int = 100) -> list[AccessRecord]:
    """The latest reads of one subject's data, newest first."""
    rows = await session.scalars(select(AccessRecord)
                                 .where(AccessRecord.subject_type == subject_type, AccessRecord.subject_id == subject_id)
                                 .order_by(AccessRecord.at.desc(), AccessRecord.id.desc()).limit(limit))
    return list(rows)
