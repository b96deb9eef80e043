"""indexes behind the retention passes: outbox by created_at, handoffs by updated_at, access_log by at

Each hourly pass asks for the oldest rows of a table past its period; without these it reads
the whole table every hour.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""
from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

INDEXES = (("outbox", "created_at"), ("handoffs", "updated_at"), ("access_log", "at"))


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
