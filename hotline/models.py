"""Tables of the 12345 hotline: tickets and their history, ratings, 督办 records, staff, handoffs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, ColumnElement, Date, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, and_, case)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AwareDateTime, Base


class Ticket(Base):
    """A 12345 工单. The deadline runs while `pending` (between registration and the reply)."""

    __tablename__ = "tickets"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)  # GD + YYYYMMDD + 6-digit daily sequence
    type: Mapped[str] = mapped_column(String(8))  # 咨询 求助 投诉 举报 建议
    category: Mapped[str | None] = mapped_column(String(32))
    subcategory: Mapped[str | None] = mapped_column(String(64))
    difficulty: Mapped[str] = mapped_column(String(16), default="general")  # general | difficult
    content: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(16))  # wechat | miniapp | phone | rating
    citizen_id: Mapped[str | None] = mapped_column(String(18), index=True)  # 身份证号 of a bound citizen
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)  # hides the contact from departments
    state: Mapped[str] = mapped_column(String(24))
    pending: Mapped[bool] = mapped_column(Boolean)  # awaiting the reply: the deadline runs
    lead_department: Mapped[str | None] = mapped_column(String(8))  # 主办
    assist_departments: Mapped[list[str]] = mapped_column(JSON, default=list)  # 协办
    state_before_return: Mapped[str | None] = mapped_column(String(24))
    accepted_on: Mapped[date] = mapped_column(Date)  # registration day: not counted
    clock_start: Mapped[date] = mapped_column(Date)  # accepted_on, or the day of 重办
    working_days: Mapped[int] = mapped_column(Integer)  # 5 or 15; 5 after 重办
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    extension_state: Mapped[str | None] = mapped_column(String(16))  # requested | approved | refused
    extension_requested_days: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(AwareDateTime())
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(AwareDateTime())  # to the current lead
    sign_due_date: Mapped[date | None] = mapped_column(Date)
    return_due_date: Mapped[date | None] = mapped_column(Date)
    signed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    replied_by_department: Mapped[str | None] = mapped_column(String(8))
    reply_working_days: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    card: Mapped[str] = mapped_column(String(8), default="none")  # none | yellow | red
    card_notified_on: Mapped[date | None] = mapped_column(Date)
    sign_alerted_on: Mapped[date | None] = mapped_column(Date)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    application_no: Mapped[str | None] = mapped_column(String(32))  # attached 办件 (bad service rating)
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # what opened it, once
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())

    @property
    def time_limit(self) -> int:
        """时限: the working days to answer in, an approved extension included."""
        return self.working_days + self.extension_days

    __table_args__ = (
        # The queues: keyset pages in (due_at, number) order, overall and per department.
        Index("ix_tickets_pending_due", "pending", "due_at", "number"),
        Index("ix_tickets_department_pending_due", "lead_department", "pending", "due_at", "number"),
        Index("ix_tickets_state_created", "state", "created_at"),
        Index("ix_tickets_state_replied", "state", "replied_at", "number"),  # 待回访: grows with the backlog
    )

    @hybrid_property
    def holder(self) -> str | None:
        """Who answers for the ticket now (its cards, 督办 and a department's queues): the lead
        department, except while a return (退单) waits for the hotline's decision; None: the hotline."""
        return None if self.state == "returned" else self.lead_department

    @holder.inplace.expression
    @classmethod
    def _holder_expression(cls) -> ColumnElement[str | None]:
        return case((cls.state == "returned", None), else_=cls.lead_department)

    @classmethod
    def held_by(cls, department: str) -> ColumnElement[bool]:
        """`holder == department`, written so that the index on the lead department serves it."""
        return and_(cls.lead_department == department, cls.state != "returned")


class TicketEvent(Base):
    """One step of a ticket's history; `public` steps are shown to the citizen."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.number"), index=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime())
    actor_role: Mapped[str] = mapped_column(String(16))  # citizen | agent | department | supervisor | system
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    public: Mapped[bool] = mapped_column(Boolean, default=True)


class TicketRating(Base):
    """好差评 of a reply, one per round (a 重办 starts a new round); bad ones wait for the agent's
    judgement (合理差评认定)."""

    __tablename__ = "ticket_ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.number"))  # indexed by the unique constraint
    round: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(8))  # whose reply was rated
    rated_at: Mapped[datetime] = mapped_column(AwareDateTime())
    needs_judgement: Mapped[bool] = mapped_column(Boolean, default=False)
    reasonable: Mapped[bool | None] = mapped_column(Boolean)
    judged_by: Mapped[str | None] = mapped_column(String(64))
    judged_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    judgement_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("ticket_no", "round"),)


class Supervision(Base):
    """A 督办 record: a card raised, a sign-for deadline missed or a supervisor's 督办, at most one
    per kind and day."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("tickets.number"))  # indexed by the unique constraint
    kind: Mapped[str] = mapped_column(String(16))  # yellow | red | sign_overdue | urge
    raised_on: Mapped[date] = mapped_column(Date, index=True)
    department: Mapped[str | None] = mapped_column(String(8), index=True)
    due_at: Mapped[datetime] = mapped_column(AwareDateTime())
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())

    __table_args__ = (UniqueConstraint("ticket_no", "kind", "raised_on"),)


class TicketSequence(Base):
    """The last ticket number issued per day."""

    __tablename__ = "ticket_sequences"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Staff(Base):
    """A console user: hotline agent, supervisor, or a department's handler."""

    __tablename__ = "staff"

    username: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # agent | supervisor | department
    department: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())


class Handoff(Base):
    """A chat the bot handed to a person (转人工), waiting in the agents' queue."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    transcript: Mapped[list[dict]] = mapped_column(JSON)  # [{"at", "from": "user"|"bot", "text"}]; agents' answers are HandoffReply rows
    state: Mapped[str] = mapped_column(String(16), index=True)  # waiting | answered | closed
    last_user_message_at: Mapped[datetime] = mapped_column(AwareDateTime())  # opens WeChat's 48-hour window
    taken_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)  # retention goes by it


class HandoffReply(Base):
    """An agent's answer in a handoff: queued for WeChat, or undeliverable once the window closed."""

    __tablename__ = "handoff_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    author: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(16))  # queued | undeliverable
    outbox_key: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(AwareDateTime())
