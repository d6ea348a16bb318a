"""notifications with their delivery state; copies of bookings for reminders and payments

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
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("booking_id", sa.Text),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("provider_message_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("event_id", "channel", "recipient", "template",
                            name="notifications_once_per_event"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')",
                           name="notification_status"),
    )
    op.create_index("notifications_due", "notifications", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("notifications_booking", "notifications", ["booking_id", "id"])
    op.create_table(
        "booking_copies",
        sa.Column("booking_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("booking_copies_to_remind", "booking_copies", ["start_at"],
                    postgresql_where=sa.text("status = 'confirmed' AND reminded_at IS NULL"))
    op.create_index("booking_copies_end", "booking_copies", ["end_at"])


def downgrade():
    op.drop_table("booking_copies")
    op.drop_table("notifications")
