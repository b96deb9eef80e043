"""applications.remaining_working_days: while an application is suspended (特别程序) its clock is
stopped, so it has no promised date, only the working days left of the promise

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('applications') as batch_op:
        batch_op.add_column(sa.Column('remaining_working_days', sa.Integer(), nullable=True))
    # A suspension under way kept the date counted when it began, which has passed since; the
    # next event counts the days left (the calendar is not at hand here).
    op.execute("UPDATE applications SET due_date = NULL, due_provisional = false WHERE state = 'suspended'")


def downgrade() -> None:
    with op.batch_alter_table('applications') as batch_op:
        batch_op.drop_column('remaining_working_days')
