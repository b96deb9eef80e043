"""hotline tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('transcript', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_user_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    op.create_index(op.f('ix_handoffs_openid'), 'handoffs', ['openid'], unique=False)
    op.create_index(op.f('ix_handoffs_state'), 'handoffs', ['state'], unique=False)

    op.create_table('staff',
    sa.Column('username', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('department', sa.String(length=8), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_staff'))
    )
    op.create_table('ticket_sequences',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_ticket_sequences'))
    )
    op.create_table('tickets',
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('subcategory', sa.String(length=64), nullable=True),
    sa.Column('difficulty', sa.String(length=16), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('citizen_id', sa.String(length=18), nullable=True),
    sa.Column('contact_name', sa.String(length=64), nullable=True),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('pending', sa.Boolean(), nullable=False),
    sa.Column('lead_department', sa.String(length=8), nullable=True),
    sa.Column('assist_departments', sa.JSON(), nullable=False),
    sa.Column('state_before_return', sa.String(length=24), nullable=True),
    sa.Column('accepted_on', sa.Date(), nullable=False),
    sa.Column('clock_start', sa.Date(), nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.Column('extension_days', sa.Integer(), nullable=False),
    sa.Column('extension_state', sa.String(length=16), nullable=True),
    sa.Column('extension_requested_days', sa.Integer(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sign_due_date', sa.Date(), nullable=True),
    sa.Column('return_due_date', sa.Date(), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replied_by_department', sa.String(length=8), nullable=True),
    sa.Column('reply_working_days', sa.Integer(), nullable=True),
    sa.Column('replied_on_time', sa.Boolean(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('card', sa.String(length=8), nullable=False),
    sa.Column('card_notified_on', sa.Date(), nullable=True),
    sa.Column('sign_alerted_on', sa.Date(), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('application_no', sa.String(length=32), nullable=True),
    sa.Column('source_key', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_tickets')),
    sa.UniqueConstraint('source_key', name=op.f('uq_tickets_source_key'))
    )
    op.create_index(op.f('ix_tickets_citizen_id'), 'tickets', ['citizen_id'], unique=False)
    op.create_index(op.f('ix_tickets_contact_phone'), 'tickets', ['contact_phone'], unique=False)
    op.create_index('ix_tickets_department_pending_due', 'tickets', ['lead_department', 'pending', 'due_at', 'number'], unique=False)
    op.create_index('ix_tickets_pending_due', 'tickets', ['pending', 'due_at', 'number'], unique=False)
    op.create_index('ix_tickets_state_created', 'tickets', ['state', 'created_at'], unique=False)
    op.create_index('ix_tickets_state_replied', 'tickets', ['state', 'replied_at', 'number'], unique=False)

    op.create_table('handoff_replies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('outbox_key', sa.String(length=255), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_replies_handoff_id_handoffs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_replies'))
    )
    op.create_index(op.f('ix_handoff_replies_handoff_id'), 'handoff_replies', ['handoff_id'], unique=False)

    op.create_table('supervisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_no', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('department', sa.String(length=8), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_no'], ['tickets.number'], name=op.f('fk_supervisions_ticket_no_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervisions')),
    sa.UniqueConstraint('ticket_no', 'kind', 'raised_on', name=op.f('uq_supervisions_ticket_no_kind_raised_on'))
    )
    op.create_index(op.f('ix_supervisions_department'), 'supervisions', ['department'], unique=False)
    op.create_index(op.f('ix_supervisions_raised_on'), 'supervisions', ['raised_on'], unique=False)
    op.create_index(op.f('ix_supervisions_ticket_no'), 'supervisions', ['ticket_no'], unique=False)

    op.create_table('ticket_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_no', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('actor_name', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_no'], ['tickets.number'], name=op.f('fk_ticket_events_ticket_no_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    op.create_index(op.f('ix_ticket_events_ticket_no'), 'ticket_events', ['ticket_no'], unique=False)

    op.create_table('ticket_ratings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_no', sa.String(length=16), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('department', sa.String(length=8), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('needs_judgement', sa.Boolean(), nullable=False),
    sa.Column('reasonable', sa.Boolean(), nullable=True),
    sa.Column('judged_by', sa.String(length=64), nullable=True),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('judgement_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_no'], ['tickets.number'], name=op.f('fk_ticket_ratings_ticket_no_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_ratings')),
    sa.UniqueConstraint('ticket_no', 'round', name=op.f('uq_ticket_ratings_ticket_no_round'))
    )
    op.create_index(op.f('ix_ticket_ratings_ticket_no'), 'ticket_ratings', ['ticket_no'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_ratings_ticket_no'), table_name='ticket_ratings')

    op.drop_table('ticket_ratings')
    op.drop_index(op.f('ix_ticket_events_ticket_no'), table_name='ticket_events')

    op.drop_table('ticket_events')
    op.drop_index(op.f('ix_supervisions_ticket_no'), table_name='supervisions')
    op.drop_index(op.f('ix_supervisions_raised_on'), table_name='supervisions')
    op.drop_index(op.f('ix_supervisions_department'), table_name='supervisions')

    op.drop_table('supervisions')
    op.drop_index(op.f('ix_handoff_replies_handoff_id'), table_name='handoff_replies')

    op.drop_table('handoff_replies')
    op.drop_index('ix_tickets_state_replied', table_name='tickets')
    op.drop_index('ix_tickets_state_created', table_name='tickets')
    op.drop_index('ix_tickets_pending_due', table_name='tickets')
    op.drop_index('ix_tickets_department_pending_due', table_name='tickets')
    op.drop_index(op.f('ix_tickets_contact_phone'), table_name='tickets')
    op.drop_index(op.f('ix_tickets_citizen_id'), table_name='tickets')

    op.drop_table('tickets')
    op.drop_table('ticket_sequences')
    op.drop_table('staff')
    op.drop_index(op.f('ix_handoffs_state'), table_name='handoffs')
    op.drop_index(op.f('ix_handoffs_openid'), table_name='handoffs')

    op.drop_table('handoffs')
