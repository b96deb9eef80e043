"""tickets: on-time is derived from replied_at and due_at; indexes the unique constraints already give

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.drop_column('replied_on_time')
    op.drop_index('ix_ticket_ratings_ticket_no', table_name='ticket_ratings')
    op.drop_index('ix_supervisions_ticket_no', table_name='supervisions')


def downgrade() -> None:
    op.create_index('ix_supervisions_ticket_no', 'supervisions', ['ticket_no'], unique=False)
    op.create_index('ix_ticket_ratings_ticket_no', 'ticket_ratings', ['ticket_no'], unique=False)
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.add_column(sa.Column('replied_on_time', sa.Boolean(), nullable=True))
