"""Absence from/to with a named substitute; tasks held for an away owner (issue 13).

Revision ID: 0011_absence
Revises: 0010_analytics
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_absence"
down_revision = "0010_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("absent_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("substitute_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_app_user_substitute_id_app_user", "app_user", ["substitute_id"], ["id"])
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("held_for_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_human_task_held_for_id_app_user", "app_user", ["held_for_id"], ["id"])
    op.create_index("ix_human_task_held_for_id", "human_task", ["held_for_id"])


def downgrade() -> None:
    op.drop_index("ix_human_task_held_for_id", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_constraint("fk_human_task_held_for_id_app_user", type_="foreignkey")
        batch.drop_column("held_for_id")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_constraint("fk_app_user_substitute_id_app_user", type_="foreignkey")
        batch.drop_column("substitute_id")
        batch.drop_column("absent_from")
