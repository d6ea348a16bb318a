"""outbox and inbox

Revision ID: 0001
Revises:
"""
from alembic import op

from services.common.tables import create_reliability_tables, drop_reliability_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    create_reliability_tables(op.get_bind())


def downgrade():
    drop_reliability_tables(op.get_bind())
