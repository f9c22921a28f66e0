"""Milestones per item (issue 10): a node marked ``milestone_items:<key>`` records a row
per item (an intervention recommended, planned or started; a decision's result), so
``milestone.item`` ("" for a plain milestone) and the uniqueness moves from the node's
run (``task_guid``) to the run, key and item.

On SQLite the unnamed UNIQUE(task_guid) of 0005 is dropped through a batch copy of the
table (named by the naming convention for the copy).

Revision ID: 0014_milestone_items
Revises: 0013_simulation_run
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_milestone_items"
down_revision = "0013_simulation_run"
branch_labels = None
depends_on = None

CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique_name() -> str:
    return "milestone_task_guid_key" if op.get_bind().dialect.name == "postgresql" else "uq_milestone_task_guid"


def upgrade() -> None:
    with op.batch_alter_table("milestone", naming_convention=CONVENTION) as batch:
        batch.add_column(sa.Column("item", sa.String(200), nullable=False, server_default=""))
        batch.drop_constraint(_old_unique_name(), type_="unique")
        batch.create_unique_constraint("uq_milestone_task_key_item", ["task_guid", "key", "item"])


def downgrade() -> None:
    op.execute("DELETE FROM milestone WHERE item <> ''")
    with op.batch_alter_table("milestone", naming_convention=CONVENTION) as batch:
        batch.drop_constraint("uq_milestone_task_key_item", type_="unique")
        batch.drop_column("item")
        batch.create_unique_constraint(_old_unique_name(), ["task_guid"])
