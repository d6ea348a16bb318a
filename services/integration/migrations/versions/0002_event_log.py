"""the integration log

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_log",
        sa.Column("event_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("booking_id", sa.Text),
        sa.Column("payment_id", sa.Text),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reaction", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('logged', 'done', 'failed', 'dead')",
                           name="event_log_status"),
    )
    op.create_index("event_log_occurred", "event_log", ["occurred_at", "event_id"])
    op.create_index("event_log_booking", "event_log", ["booking_id", "occurred_at"])
    op.create_index("event_log_payment", "event_log", ["payment_id", "occurred_at"])
    op.create_index("event_log_type", "event_log", ["type", "occurred_at"])
    op.create_index("event_log_unfinished", "event_log", ["status", "occurred_at"],
                    postgresql_where=sa.text("status IN ('failed', 'dead')"))


def downgrade():
    op.drop_table("event_log")
