"""Notifications keep what their title and body were made from (``args``), so that the
web app shows each note in the reader's language (processes.notices.render).

Revision ID: 0016_notification_args
Revises: 0015_analytics_cube
"""
from alembic import op
import sqlalchemy as sa


revision = "0016_notification_args"
down_revision = "0015_analytics_cube"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("args", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("args")
