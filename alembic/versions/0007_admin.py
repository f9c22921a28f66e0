"""Administration (issue 13): active users, one-time passwords, national administrators.

A national administrator is a user with ``is_national_admin`` and no municipality
(``municipality_id`` NULL): they register municipalities and see every municipality's
models and policy versions, and no municipality's cases.

Revision ID: 0007_admin
Revises: 0006_domain_models
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_admin"
down_revision = "0006_domain_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.alter_column("municipality_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("is_national_admin", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("is_national_admin")
        batch.drop_column("must_change_password")
        batch.drop_column("active")
        batch.alter_column("municipality_id", existing_type=sa.Integer(), nullable=False)
