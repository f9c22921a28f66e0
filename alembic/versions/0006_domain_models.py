"""Domain fidelity (issue 8), model side: interventions and citizen involvement.

Revision ID: 0006_domain_models
Revises: 0005_domain
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0006_domain_models"
down_revision = "0005_domain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
