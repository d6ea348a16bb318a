"""outbound webhooks: endpoints and their deliveries

Revision ID: 0003_webhooks
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003_webhooks"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("event_types", JSONB, nullable=False),
        sa.Column("include_personal_data", sa.Boolean, nullable=False,
                  server_default="false"),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("request_id", sa.Text, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.BigInteger, sa.ForeignKey("webhook_endpoints.id"),
                  nullable=False),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("booking_id", sa.Text),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_response", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("endpoint_id", "event_id", name="webhook_delivery_once"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name="webhook_delivery_status"),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_index("webhook_deliveries_booking", "webhook_deliveries",
                    ["endpoint_id", "booking_id", "id"],
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
