"""event_log.correlation_id: the request (X-Request-ID) that started an event's chain

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
    op.add_column("event_log", sa.Column("correlation_id", sa.Text))
    op.create_index("event_log_correlation", "event_log", ["correlation_id", "occurred_at"])


def downgrade():
    op.drop_index("event_log_correlation", "event_log")
    op.drop_column("event_log", "correlation_id")
