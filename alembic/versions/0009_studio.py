"""Process designers' studio (issue 12): drafts of models and dated publications.

Revision ID: 0009_studio
Revises: 0008_audit_append_only
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_studio"
down_revision = "0008_audit_append_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_draft",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=False),
        sa.Column("case_type", sa.String(64), nullable=False),
        sa.Column("base_version_id", sa.Integer(), sa.ForeignKey("model_version.id"), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_version_id", sa.Integer(), sa.ForeignKey("model_version.id"), nullable=True),
    )
    op.create_index("ix_model_draft_municipality", "model_draft", ["municipality_id", "case_type"])
    op.create_table(
        "model_publication",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=False),
        sa.Column("case_type", sa.String(64), nullable=False),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_version.id"), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scenarios", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_publication_in_force", "model_publication",
                    ["municipality_id", "case_type", "effective_from"])


def downgrade() -> None:
    op.drop_index("ix_model_publication_in_force", table_name="model_publication")
    op.drop_table("model_publication")
    op.drop_index("ix_model_draft_municipality", table_name="model_draft")
    op.drop_table("model_draft")
