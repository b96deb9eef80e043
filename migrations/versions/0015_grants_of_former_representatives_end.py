"""Agent grants made by a legal representative who has since been replaced end now, as they do
from this release on when a push names a new representative

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22
"""
from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        UPDATE enterprise_members SET revoked_at = CURRENT_TIMESTAMP
        WHERE role = 'agent' AND revoked_at IS NULL AND granted_by IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM enterprise_members AS representative
                          WHERE representative.uscc = enterprise_members.uscc
                            AND representative.role = 'legal_representative'
                            AND representative.revoked_at IS NULL
                            AND representative.id_number = enterprise_members.granted_by)
    """)


def downgrade() -> None:
    pass  # the grants stay ended: which were ended here is not kept
