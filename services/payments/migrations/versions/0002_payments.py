"""payments, refunds, the webhook inbox, idempotency keys, the mock provider's checkouts

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

# Frozen here: a later change of the model is a new migration.
PAYMENT_STATUSES = ("pending", "succeeded", "failed", "canceled", "partially_refunded",
                    "refunded", "amount_mismatch")


def _one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        "payments",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider_payment_id", sa.Text),
        sa.Column("confirmation_url", sa.Text),
        sa.Column("return_url", sa.Text),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("provider_state", JSONB, nullable=False, server_default="{}"),
        sa.Column("checked_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint(_one_of("kind", ("prepayment", "full", "remainder")),
                           name="payment_kind"),
        sa.CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="payment_status"),
        sa.CheckConstraint("amount > 0 AND refunded_amount >= 0 AND refunded_amount <= amount",
                           name="payment_money"),
    )
    op.create_index("payments_one_pending_per_kind", "payments", ["booking_id", "kind"],
                    unique=True, postgresql_where=sa.text("status = 'pending'"))
    op.create_index("payments_by_provider_id", "payments", ["provider", "provider_payment_id"],
                    unique=True, postgresql_where=sa.text("provider_payment_id IS NOT NULL"))
    op.create_index("payments_by_booking", "payments", ["booking_id", "created_at"])
    op.create_index("payments_pending", "payments", ["created_at"],
                    postgresql_where=sa.text("status = 'pending'"))

    op.create_table(
        "refunds",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("payment_id", UUID(as_uuid=False), sa.ForeignKey("payments.id"),
                  nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("request_id", sa.Text, nullable=False, unique=True),
        sa.Column("batch_request_id", sa.Text),
        sa.Column("provider_refund_id", sa.Text),
        sa.Column("provider_state", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint(_one_of("status", ("pending", "succeeded", "failed")),
                           name="refund_status"),
        sa.CheckConstraint("amount > 0", name="refund_money"),
    )
    op.create_index("refunds_by_payment", "refunds", ["payment_id"])
    op.create_index("refunds_by_batch", "refunds", ["batch_request_id"],
                    postgresql_where=sa.text("batch_request_id IS NOT NULL"))

    op.create_table(
        "provider_notifications",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=False),
        sa.Column("payment_id", UUID(as_uuid=False)),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("gateway", "dedupe_key", name="provider_notifications_once"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("payment_id", UUID(as_uuid=False)),
        sa.Column("response", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )

    op.create_table(
        "mock_checkouts",
        sa.Column("payment_id", UUID(as_uuid=False), sa.ForeignKey("payments.id"),
                  primary_key=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("notification", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("mock_checkouts_due", "mock_checkouts", ["next_attempt_at"],
                    postgresql_where=sa.text("next_attempt_at IS NOT NULL"))


def downgrade():
    op.drop_table("mock_checkouts")
    op.drop_table("idempotency_keys")
    op.drop_table("provider_notifications")
    op.drop_table("refunds")
    op.drop_table("payments")
