"""Stored what-if simulation runs of the Simulér page (issue 11): asked by a leder, run
by the worker, reopened later.

Revision ID: 0013_simulation_run
Revises: 0012_audit_recorded_at
"""
from alembic import op
import sqlalchemy as sa

import processes.models

revision = "0013_simulation_run"
down_revision = "0012_audit_recorded_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = processes.models.UtcDateTime(timezone=True)
    op.create_table(
        "simulation_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("municipality_id", sa.Integer(), sa.ForeignKey("municipality.id"), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(100), nullable=True),
        sa.Column("started_at", when, nullable=True),
        sa.Column("heartbeat_at", when, nullable=True),
        sa.Column("finished_at", when, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_simulation_run_municipality", "simulation_run", ["municipality_id", "id"])
    op.create_index("ix_simulation_run_status", "simulation_run", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_simulation_run_status", table_name="simulation_run")
    op.drop_index("ix_simulation_run_municipality", table_name="simulation_run")
    op.drop_table("simulation_run")
