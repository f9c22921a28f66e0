"""The cube (issue 10): the pre-aggregation behind filtered manager figures (another
period, a case type, a model or policy version), refreshed by the worker with the
snapshot (``processes.analytics``).

Revision ID: 0015_analytics_cube
Revises: 0014_milestone_items
"""
from alembic import op
import sqlalchemy as sa


revision = "0015_analytics_cube"
down_revision = "0014_milestone_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_cube",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=True),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("case_type", sa.String(64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("bucket", sa.String(8), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("cube_from", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_analytics_cube_lookup", "analytics_cube", ["municipality_id", "level", "case_type", "bucket"])


def downgrade() -> None:
    op.drop_index("ix_analytics_cube_lookup", table_name="analytics_cube")
    op.drop_table("analytics_cube")
