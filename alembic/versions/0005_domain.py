"""Domain fidelity (issue 8): milestones, case owner, service targets.

Revision ID: 0005_domain
Revises: 0004_hardening
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_domain"
down_revision = "0004_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "milestone",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("sag.id"), nullable=False),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("process_instance.id"), nullable=False),
        sa.Column("process_id", sa.String(100), nullable=False),
        sa.Column("bpmn_id", sa.String(200), nullable=False),
        sa.Column("task_guid", sa.String(36), nullable=False, unique=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
    )
    op.create_index("ix_milestone_case_id", "milestone", ["case_id"])
    op.create_index("ix_milestone_municipality_key", "milestone", ["municipality_id", "key", "date"])
    with op.batch_alter_table("sag") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_sag_owner_id_app_user", "app_user", ["owner_id"], ["id"])
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("absent_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("absent_until")
    with op.batch_alter_table("sag") as batch:
        batch.drop_constraint("fk_sag_owner_id_app_user", type_="foreignkey")
        batch.drop_column("owner_id")
    op.drop_index("ix_milestone_municipality_key", table_name="milestone")
    op.drop_index("ix_milestone_case_id", table_name="milestone")
    op.drop_table("milestone")
