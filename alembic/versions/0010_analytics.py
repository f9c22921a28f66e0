"""Manager figures (issue 10): pre-computed snapshots the worker refreshes.

Revision ID: 0010_analytics
Revises: 0009_studio
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_analytics"
down_revision = "0009_studio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_snapshot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=True),
        sa.Column("case_type", sa.String(64), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
    )
    op.create_index("ix_analytics_snapshot_lookup", "analytics_snapshot", ["case_type", "municipality_id"])


def downgrade() -> None:
    op.drop_index("ix_analytics_snapshot_lookup", table_name="analytics_snapshot")
    op.drop_table("analytics_snapshot")
