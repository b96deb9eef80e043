"""Tables of the personal and enterprise space (一人一企一档)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AwareDateTime, Base


class Person(Base):
    """A citizen, known by 身份证号: from a real-name binding or as a licence holder."""

    __tablename__ = "persons"

    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


class WeChatAccount(Base):
    """A WeChat user (openid) and, once the identity provider has bound it, the person."""

    __tablename__ = "wechat_accounts"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number: Mapped[str | None] = mapped_column(ForeignKey("persons.id_number"), index=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    bound_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # Last login through the mini-program: an openid of the mini-program, not the official
    # account's, so subscribe messages (which only the mini-program sends) can reach it.
    miniapp_login_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class Enterprise(Base):
    __tablename__ = "enterprises"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)  # 统一社会信用代码
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())


class EnterpriseMember(Base):
    """Who may act for an enterprise: its legal representative (法定代表人) or an authorised
    agent (经办人) until `valid_until` (inclusive) unless revoked earlier."""

    __tablename__ = "enterprise_members"
    __table_args__ = (Index("ix_enterprise_members_uscc_id_number", "uscc", "id_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"))
    id_number: Mapped[str] = mapped_column(ForeignKey("persons.id_number"), index=True)
    role: Mapped[str] = mapped_column(String(32))  # legal_representative | agent
    valid_until: Mapped[date | None] = mapped_column(Date)
    granted_by: Mapped[str | None] = mapped_column(String(18))
    # The agent's name as the legal representative typed it, and the only one shown to them: the
    # name on record for that ID number is not theirs to learn (or whether there is one).
    granted_name: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(AwareDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class Document(Base):
    """A licence or material (证照/材料) held by a person or an enterprise.

    `licence_id` is the e-licence library's id, stable across versions; a push with a version
    not above the stored one changes nothing. A renewal issued as a new licence links its
    predecessor.
    """

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_holder", "holder_type", "holder_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(128), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(128))
    holder_type: Mapped[str] = mapped_column(String(16))  # person | enterprise
    holder_id: Mapped[str] = mapped_column(String(18))
    holder_name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(200))
    issued_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)  # None: 长期有效
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean)  # government-verified, or self-provided
    predecessor_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id"), index=True)
    extra: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


class AccessRecord(Base):
    """One read of a person's or enterprise's data by someone other than its owner (data tracker)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_subject", "subject_type", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # person | enterprise
    subject_id: Mapped[str] = mapped_column(String(18))
    reader_type: Mapped[str] = mapped_column(String(32))  # one of access_log.READER_TYPES
    reader_id: Mapped[str] = mapped_column(String(64))
    reader_name: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)  # retention goes by it


class Application(Base):
    """An application (办件) as the acceptance platform reports it; state, timeline and promised
    date are derived from its events in event-time order (see personal_space.applications)."""

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_applicant", "applicant_type", "applicant_id"),)

    application_no: Mapped[str] = mapped_column(String(16), primary_key=True)  # SX + 14 digits
    password_hash: Mapped[str] = mapped_column(String(64))  # 查询密码, salted and stretched
    item_code: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200))
    applicant_type: Mapped[str] = mapped_column(String(16))  # person | enterprise
    applicant_id: Mapped[str] = mapped_column(String(18))
    applicant_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    promised_working_days: Mapped[int | None] = mapped_column(Integer)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)  # 承诺办结日, pauses included; None while paused
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    # While suspended (特别程序) the clock stops: the working days of the promise still left, which
    # the pause keeps until it ends and a new promised date is counted from there. None otherwise.
    remaining_working_days: Mapped[int | None] = mapped_column(Integer)
    missing_materials: Mapped[list] = mapped_column(JSON)  # 补齐补正: the open notice's items
    # 容缺 materials are rows of DeferredMaterial; the events keep what each reported.
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


class ApplicationEvent(Base):
    __tablename__ = "application_events"
    __table_args__ = (Index("ix_application_events_no_time", "application_no", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(ForeignKey("applications.application_no"))
    event_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    missing_materials: Mapped[list] = mapped_column(JSON)
    deferred_materials: Mapped[list] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(AwareDateTime())


class ApplicationRating(Base):
    """好差评 of a concluded application; a bad one waits for the hotline's follow-up."""

    __tablename__ = "application_ratings"

    application_no: Mapped[str] = mapped_column(ForeignKey("applications.application_no"), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    rated_by: Mapped[str] = mapped_column(String(18))
    rated_at: Mapped[datetime] = mapped_column(AwareDateTime())
    needs_follow_up: Mapped[bool] = mapped_column(Boolean, index=True)
    followed_up_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class DeferredMaterial(Base):
    """A material promised later under 容缺受理, one row each, so reminders find them by date."""

    __tablename__ = "deferred_materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_no: Mapped[str] = mapped_column(ForeignKey("applications.application_no"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date, index=True)
