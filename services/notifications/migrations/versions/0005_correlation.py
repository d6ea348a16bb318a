"""notifications.correlation_id: the chain a message belongs to, for notification.sent/failed

Revision ID: 0005_correlation
Revises: 0004_handler_names
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_correlation"
down_revision = "0004_handler_names"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("notifications", sa.Column("correlation_id", sa.Text))


def downgrade():
    op.drop_column("notifications", "correlation_id")
