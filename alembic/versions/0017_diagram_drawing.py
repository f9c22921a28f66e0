"""Drawn diagrams shared by a municipality's browsers (issue 14, point 9): the SVG that
bpmn-js drew for a model version, sanitized, so the case page shows it without bpmn-js.

Revision ID: 0017_diagram_drawing
Revises: 0016_notification_args
"""
from alembic import op
import sqlalchemy as sa

import processes.models

revision = "0017_diagram_drawing"
down_revision = "0016_notification_args"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagram_drawing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_version.id"), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", processes.models.UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("municipality_id", "key", name="uq_diagram_drawing_key"),
    )


def downgrade() -> None:
    op.drop_table("diagram_drawing")
