"""wechat_accounts.miniapp_login_at: an account that logged in to the mini-program is the one
subscribe messages go to, not an official-account openid bound to the same person

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('wechat_accounts') as batch_op:
        batch_op.add_column(sa.Column('miniapp_login_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('wechat_accounts') as batch_op:
        batch_op.drop_column('miniapp_login_at')
