"""Domain fidelity (issue 8): milestones, case owner, service targets.

Revision ID: 0005_domain
Revises: 0004_hardening
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0005_domain"
down_revision = "0004_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
