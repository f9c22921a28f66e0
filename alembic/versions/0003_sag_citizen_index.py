"""Index for sorting a municipality's inbox by citizen name.

Revision ID: 0003_sag_citizen_index
Revises: 0002_worker
"""
from alembic import op

revision = "0003_sag_citizen_index"
down_revision = "0002_worker"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sag_municipality_citizen", "sag", ["municipality_id", "citizen_name"])


def downgrade() -> None:
    op.drop_index("ix_sag_municipality_citizen", table_name="sag")
