"""Documents (证照/材料): ingest from the e-licence library, the owner's views, 亮证, held kinds.

A push is applied once per (licence id, version): a version not above the stored one changes
nothing, so repeats and late arrivals of older versions are harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from aiohttp import web
from sqlalchemy import ColumnElement, exists, select, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.db import serialise
from core.errors import InvalidInput, NotFound
from personal_space.models import Document
from personal_space.people import (NotBound, bound_person, ensure_enterprise, ensure_person, id_number_or_error,
                                   require_membership, set_legal_representative, uscc_or_error)

STATUS_LABELS = {"valid": "有效", "expired": "过期", "cancelled": "注销", "revoked": "吊销", "suspended": "中止"}
SHOW_CODE_SECONDS = 300
SIGNING_KEY = "personal_space:show-code-key"  # state-store key of the 亮证 signing key, shared by all processes


class DocumentNotFound(NotFound):
    code = "document_not_found"
    message = "未找到该证照"


class ShowCodeInvalid(NotFound):
    code = "show_code_invalid"
    message = "亮证码无效或已过期，请让持证人重新出示"


@dataclass(frozen=True)
class Holder:
    type: str  # person | enterprise
    id: str
    name: str


def valid_now(document: Document, today: date) -> bool:
    """In force today: status valid and not past its last day."""
    return document.status == "valid" and (document.valid_until is None or document.valid_until >= today)


def shown_status(document: Document, today: date) -> str:
    """The status as a person reads it: a valid licence past its last day is 过期."""
    if document.status == "valid" and document.valid_until is not None and document.valid_until < today:
        return "expired"
    return document.status


async def ingest_licence(session: AsyncSession, source: str, event: dict, now: datetime
                         ) -> tuple[str, Document]:
    """Apply a pushed licence: ("created" | "updated" | "unchanged", the licence as it now stands).
    Not newer is "unchanged": a late older version changes nothing, neither the holder's name nor
    the legal representative."""
    await serialise(session, f"licence:{event['licence_id']}")  # two versions pushed at once: one after the other
    existing = await session.scalar(select(Document).where(Document.licence_id == event["licence_id"]))
    if existing is not None and existing.version >= event["version"]:
        return "unchanged", existing
    holder = await _holder(session, event["holder"], now)
    if event.get("legal_representative") and holder.type == "enterprise":
        rep = event["legal_representative"]
        # The enterprise first, then the person: the order a grant takes them in (no deadlock).
        await serialise(session, f"enterprise:{holder.id}")
        person = await ensure_person(session, id_number_or_error(rep["id_number"]), rep["name"], now)
        await set_legal_representative(session, holder.id, person.id_number, now)
    predecessor = None
    if event.get("replaces"):
        predecessor = await session.scalar(select(Document).where(Document.licence_id == event["replaces"]))
    fields = dict(version=event["version"], kind=event["kind"], number=event["number"], holder_type=holder.type,
                  holder_id=holder.id, holder_name=holder.name, issuer=event["issuer"], issued_on=event["issued_on"],
                  valid_until=event["valid_until"], status=event["status"], source=source,
                  verified=event["verified"], extra=event.get("extra") or {}, updated_at=now,
                  predecessor_id=predecessor.id if predecessor else (existing.predecessor_id if existing else None))
    if existing is None:
        created = Document(id=uuid.uuid4().hex, licence_id=event["licence_id"], created_at=now, **fields)
        session.add(created)
        return "created", created
    for name, value in fields.items():
        setattr(existing, name, value)
    return "updated", existing


async def _holder(session: AsyncSession, holder: dict, now: datetime) -> Holder:
    if holder["type"] == "person":
        person = await ensure_person(session, id_number_or_error(holder["id"]), holder["name"], now)
        return Holder("person", person.id_number, person.name)
    if holder["type"] == "enterprise":
        enterprise = await ensure_enterprise(session, uscc_or_error(holder["id"]), holder["name"], now)
        return Holder("enterprise", enterprise.uscc, enterprise.name)
    raise InvalidInput("持证主体类型应为 person 或 enterprise", code="invalid_holder")


async def documents_of(session: AsyncSession, holder_type: str, holder_id: str) -> list[Document]:
    rows = await session.scalars(select(Document).where(Document.holder_type == holder_type,
                                                        Document.holder_id == holder_id)
                                 .order_by(Document.kind, Document.valid_until.desc(), Document.id))
    return list(rows)


def held_by(holders: list[tuple[str, str]]) -> ColumnElement[bool]:
    """The condition "a document of one of these (holder type, holder id)", one IN for them all."""
    return tuple_(Document.holder_type, Document.holder_id).in_(holders)


_Renewal = aliased(Document)
# A licence renewed as a new one (the new one `replaces` it) is not reminded of: its holder has
# done what the reminder asks.
NOT_RENEWED: ColumnElement[bool] = ~exists().where(_Renewal.predecessor_id == Document.id)


async def document_for(session: AsyncSession, document_id: str, holders: list[tuple[str, str]]) -> Document:
    """The document if one of `holders` holds it; otherwise DocumentNotFound, exactly as for a
    document that does not exist."""
    if not holders:
        raise DocumentNotFound()
    document = await session.scalar(select(Document).where(Document.id == document_id, held_by(holders)))
    if document is None:
        raise DocumentNotFound()
    return document


async def held_kinds(session: AsyncSession, holders: list[tuple[str, str]], today: date) -> frozenset[str]:
    """Kinds of the documents in force that these holders have: what "once only" may skip."""
    if not holders:
        return frozenset()
    rows = await session.scalars(select(Document).where(held_by(holders), Document.status == "valid"))
    return frozenset(d.kind for d in rows if valid_now(d, today))


# 亮证: a code a clerk can open for five minutes. It is signed (HMAC), not stored, with a key kept
# in the state store so that every process checks the codes of every other.

async def _signing_key(app: web.Application) -> bytes:
    state = app[keys.STATE]
    key = await state.get(SIGNING_KEY)
    if key is None:  # the first code ever: make the key, unless another process just did
        await state.set_if_absent(SIGNING_KEY, secrets.token_hex(32))
        key = await state.get(SIGNING_KEY) or ""
    return bytes.fromhex(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def show_code(app: web.Application, document: Document, now: datetime) -> tuple[str, datetime]:
    """A verification code for `document`, valid for SHOW_CODE_SECONDS."""
    expires = int(now.timestamp()) + SHOW_CODE_SECONDS
    payload = f"{document.id}.{expires}"
    signature = hmac.new(await _signing_key(app), payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{_b64(signature)}", now + timedelta(seconds=SHOW_CODE_SECONDS)


async def check_show_code(app: web.Application, code: str, now: datetime) -> str:
    """The document id a live code stands for, or ShowCodeInvalid."""
    document_id, _, rest = code.partition(".")
    expires, _, signature = rest.partition(".")
    if not (document_id and expires.isdigit() and signature):
        raise ShowCodeInvalid()
    expected = hmac.new(await _signing_key(app), f"{document_id}.{expires}".encode(), hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(_b64(expected), signature) or int(expires) < now.timestamp():
        raise ShowCodeInvalid()
    return document_id


async def held_kinds_of_caller(session: AsyncSession, openid: str, enterprise: str | None, today: date) -> frozenset[str]:
    """Once only (一次录入、多次复用): the kinds the caller holds valid, with those of the
    enterprise they act for. Unbound callers hold nothing the service knows of."""
    uscc = uscc_or_error(enterprise) if enterprise else None  # a malformed code is a mistake, said as one
    person = await bound_person(session, openid)
    if person is None:
        if uscc is not None:  # acting for an enterprise needs to be someone
            raise NotBound()
        return frozenset()
    holders = [("person", person.id_number)]
    if uscc is not None:
        membership = await require_membership(session, uscc, person.id_number, today)
        holders.append(("enterprise", membership.uscc))
    return await held_kinds(session, holders, today)
