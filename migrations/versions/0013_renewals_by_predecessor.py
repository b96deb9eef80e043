"""documents.predecessor_id indexed: the reminder planner skips licences that a renewal replaces

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""
from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_documents_predecessor_id', 'documents', ['predecessor_id'])


def downgrade() -> None:
    op.drop_index('ix_documents_predecessor_id', table_name='documents')
