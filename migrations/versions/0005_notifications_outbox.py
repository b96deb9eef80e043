"""notifications outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('page', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    op.create_index(op.f('ix_outbox_due_at'), 'outbox', ['due_at'], unique=False)
    op.create_index(op.f('ix_outbox_next_attempt_at'), 'outbox', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_outbox_recipient'), 'outbox', ['recipient'], unique=False)
    op.create_index(op.f('ix_outbox_state'), 'outbox', ['state'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_outbox_state'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_recipient'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_next_attempt_at'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_due_at'), table_name='outbox')
    op.drop_table('outbox')

