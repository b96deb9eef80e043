"""applications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('application_no', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=64), nullable=False),
    sa.Column('item_code', sa.String(length=64), nullable=False),
    sa.Column('item_name', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('applicant_type', sa.String(length=16), nullable=False),
    sa.Column('applicant_id', sa.String(length=18), nullable=False),
    sa.Column('applicant_name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('promised_working_days', sa.Integer(), nullable=True),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('missing_materials', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('application_no', name=op.f('pk_applications'))
    )
    op.create_index('ix_applications_applicant', 'applications', ['applicant_type', 'applicant_id'], unique=False)

    op.create_table('application_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_no', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('missing_materials', sa.JSON(), nullable=False),
    sa.Column('deferred_materials', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_no'], ['applications.application_no'], name=op.f('fk_application_events_application_no_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_events'))
    )
    op.create_index('ix_application_events_no_time', 'application_events', ['application_no', 'occurred_at'], unique=False)

    op.create_table('application_ratings',
    sa.Column('application_no', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('rated_by', sa.String(length=18), nullable=False),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('needs_follow_up', sa.Boolean(), nullable=False),
    sa.Column('followed_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_no'], ['applications.application_no'], name=op.f('fk_application_ratings_application_no_applications')),
    sa.PrimaryKeyConstraint('application_no', name=op.f('pk_application_ratings'))
    )
    op.create_index(op.f('ix_application_ratings_needs_follow_up'), 'application_ratings', ['needs_follow_up'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_application_ratings_needs_follow_up'), table_name='application_ratings')
    op.drop_table('application_ratings')
    op.drop_index('ix_application_events_no_time', table_name='application_events')
    op.drop_table('application_events')
    op.drop_index('ix_applications_applicant', table_name='applications')
    op.drop_table('applications')

