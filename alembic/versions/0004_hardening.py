"""Hardening (issue 9): server-side sessions, login throttling, token expiry.

Revision ID: 0004_hardening
Revises: 0003_sag_citizen_index
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0004_hardening"
down_revision = "0003_sag_citizen_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
