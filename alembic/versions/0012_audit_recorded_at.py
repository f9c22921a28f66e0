"""The wall-clock time an audit event was written (issue 14: the case timeline shows the
case clock and, where they differ, the real time). Nullable: older rows and rows written
outside the engine's audit do not know it. A plain ADD COLUMN, so SQLite keeps the
append-only triggers of 0008 (a batch table copy would drop them).

Revision ID: 0012_audit_recorded_at
Revises: 0011_absence
"""
from alembic import op
import sqlalchemy as sa

import processes.models

revision = "0012_audit_recorded_at"
down_revision = "0011_absence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("recorded_at", processes.models.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "recorded_at")
