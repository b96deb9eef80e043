"""deferred materials

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deferred_materials',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_no', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['application_no'], ['applications.application_no'], name=op.f('fk_deferred_materials_application_no_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deferred_materials'))
    )
    op.create_index(op.f('ix_deferred_materials_application_no'), 'deferred_materials', ['application_no'], unique=False)
    op.create_index(op.f('ix_deferred_materials_due_date'), 'deferred_materials', ['due_date'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_deferred_materials_due_date'), table_name='deferred_materials')
    op.drop_index(op.f('ix_deferred_materials_application_no'), table_name='deferred_materials')
    op.drop_table('deferred_materials')
