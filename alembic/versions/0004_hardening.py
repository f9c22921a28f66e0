"""Hardening (issue 9): server-side sessions, login throttling, token expiry.

``login_session`` holds signed-in browser sessions (signing out deletes the row),
``login_failure`` counts failed sign-ins per account and address, and ``api_token``
replaces ``app_user.api_token_hash`` with tokens that expire and can be revoked (existing
tokens stop working: issue new ones).

Revision ID: 0004_hardening
Revises: 0003_sag_citizen_index
"""
from alembic import op
import sqlalchemy as sa

import processes.models

revision = "0004_hardening"
down_revision = "0003_sag_citizen_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', processes.models.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_login_failure_address'), 'login_failure', ['address'], unique=False)
    op.create_index(op.f('ix_login_failure_at'), 'login_failure', ['at'], unique=False)
    op.create_index(op.f('ix_login_failure_username'), 'login_failure', ['username'], unique=False)
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', processes.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', processes.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', processes.models.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_api_token_user_id'), 'api_token', ['user_id'], unique=False)
    op.create_table('login_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', processes.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', processes.models.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_login_session_user_id'), 'login_session', ['user_id'], unique=False)
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_api_token_hash'))
        batch_op.drop_column('api_token_hash')


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_hash', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_app_user_api_token_hash'), ['api_token_hash'], unique=False)
    op.drop_index(op.f('ix_login_session_user_id'), table_name='login_session')
    op.drop_table('login_session')
    op.drop_index(op.f('ix_api_token_user_id'), table_name='api_token')
    op.drop_table('api_token')
    op.drop_index(op.f('ix_login_failure_username'), table_name='login_failure')
    op.drop_index(op.f('ix_login_failure_at'), table_name='login_failure')
    op.drop_index(op.f('ix_login_failure_address'), table_name='login_failure')
    op.drop_table('login_failure')
