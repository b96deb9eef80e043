"""enterprise_members.granted_name: the agent's name as the legal representative typed it, shown
to them instead of the name on record for that ID number

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enterprise_members') as batch_op:
        batch_op.add_column(sa.Column('granted_name', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enterprise_members') as batch_op:
        batch_op.drop_column('granted_name')
