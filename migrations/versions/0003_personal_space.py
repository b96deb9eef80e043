"""personal space: people, wechat accounts, enterprises, members, documents, access log, integration events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=18), nullable=False),
    sa.Column('reader_type', sa.String(length=32), nullable=False),
    sa.Column('reader_id', sa.String(length=64), nullable=False),
    sa.Column('reader_name', sa.String(length=200), nullable=False),
    sa.Column('resource', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    op.create_index('ix_access_log_subject', 'access_log', ['subject_type', 'subject_id', 'at'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('licence_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=128), nullable=False),
    sa.Column('holder_type', sa.String(length=16), nullable=False),
    sa.Column('holder_id', sa.String(length=18), nullable=False),
    sa.Column('holder_name', sa.String(length=200), nullable=False),
    sa.Column('issuer', sa.String(length=200), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('predecessor_id', sa.String(length=32), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['predecessor_id'], ['documents.id'], name=op.f('fk_documents_predecessor_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('licence_id', name=op.f('uq_documents_licence_id'))
    )
    op.create_index('ix_documents_holder', 'documents', ['holder_type', 'holder_id'], unique=False)
    op.create_index(op.f('ix_documents_valid_until'), 'documents', ['valid_until'], unique=False)

    op.create_table('enterprises',
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('uscc', name=op.f('pk_enterprises'))
    )
    op.create_table('integration_events',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'event_id', name=op.f('pk_integration_events'))
    )
    op.create_table('persons',
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_number', name=op.f('pk_persons'))
    )
    op.create_table('enterprise_members',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('granted_by', sa.String(length=18), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['id_number'], ['persons.id_number'], name=op.f('fk_enterprise_members_id_number_persons')),
    sa.ForeignKeyConstraint(['uscc'], ['enterprises.uscc'], name=op.f('fk_enterprise_members_uscc_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enterprise_members'))
    )
    op.create_index(op.f('ix_enterprise_members_id_number'), 'enterprise_members', ['id_number'], unique=False)
    op.create_index('ix_enterprise_members_uscc_id_number', 'enterprise_members', ['uscc', 'id_number'], unique=False)

    op.create_table('wechat_accounts',
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['id_number'], ['persons.id_number'], name=op.f('fk_wechat_accounts_id_number_persons')),
    sa.PrimaryKeyConstraint('openid', name=op.f('pk_wechat_accounts'))
    )
    op.create_index(op.f('ix_wechat_accounts_id_number'), 'wechat_accounts', ['id_number'], unique=False)
    op.create_index(op.f('ix_wechat_accounts_unionid'), 'wechat_accounts', ['unionid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_wechat_accounts_unionid'), table_name='wechat_accounts')
    op.drop_index(op.f('ix_wechat_accounts_id_number'), table_name='wechat_accounts')
    op.drop_table('wechat_accounts')
    op.drop_index('ix_enterprise_members_uscc_id_number', table_name='enterprise_members')
    op.drop_index(op.f('ix_enterprise_members_id_number'), table_name='enterprise_members')
    op.drop_table('enterprise_members')
    op.drop_table('persons')
    op.drop_table('integration_events')
    op.drop_table('enterprises')
    op.drop_index(op.f('ix_documents_valid_until'), table_name='documents')
    op.drop_index('ix_documents_holder', table_name='documents')
    op.drop_table('documents')
    op.drop_index('ix_access_log_subject', table_name='access_log')
    op.drop_table('access_log')

