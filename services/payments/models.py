"""The payments service's tables."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from contracts.payments import PAYMENT_KINDS, PAYMENT_STATUSES, REFUND_STATUSES
from services.common.tables import reliability_tables_v1


def _one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class PaymentRow(Base):
    """One payment attempt. Its id is the provider's idempotency key / OrderId / orderNumber."""

    __tablename__ = "payments"

    id = sa.Column(UUID(as_uuid=False), primary_key=True)
    booking_id = sa.Column(UUID(as_uuid=False), nullable=False)
    kind = sa.Column(sa.Text, nullable=False)
    amount = sa.Column(sa.BigInteger, nullable=False)           # kopecks, from the booking
    currency = sa.Column(sa.Text, nullable=False)
    gateway = sa.Column(sa.Text, nullable=False)                # what the customer chose
    provider = sa.Column(sa.Text, nullable=False)               # the adapter used (mock in mock mode)
    status = sa.Column(sa.Text, nullable=False)
    provider_payment_id = sa.Column(sa.Text)
    confirmation_url = sa.Column(sa.Text)
    return_url = sa.Column(sa.Text)
    description = sa.Column(sa.Text, nullable=False, server_default="")
    refunded_amount = sa.Column(sa.BigInteger, nullable=False, server_default="0")
    provider_state = sa.Column(JSONB, nullable=False, server_default="{}")
    receipt = sa.Column(JSONB)     # the fiscal receipt sent with it (services.payments.receipts)
    checked_at = sa.Column(sa.DateTime(timezone=True))          # last asked the provider (reconcile)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="payment_kind"),
        sa.CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="payment_status"),
        sa.CheckConstraint("amount > 0 AND refunded_amount >= 0 AND refunded_amount <= amount",
                           name="payment_money"),
        # A second request for the same booking and kind gets the pending one back.
        sa.Index("payments_one_pending_per_kind", "booking_id", "kind", unique=True,
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("payments_by_provider_id", "provider", "provider_payment_id", unique=True,
                 postgresql_where=sa.text("provider_payment_id IS NOT NULL")),
        sa.Index("payments_by_booking", "booking_id", "created_at"),
        sa.Index("payments_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
    )


class RefundRow(Base):
    """One refund. Its id is the provider's idempotency key (Idempotence-Key, ExternalRequestId)."""

    __tablename__ = "refunds"

    id = sa.Column(UUID(as_uuid=False), primary_key=True)
    payment_id = sa.Column(UUID(as_uuid=False), sa.ForeignKey("payments.id"), nullable=False)
    amount = sa.Column(sa.BigInteger, nullable=False)
    status = sa.Column(sa.Text, nullable=False)
    reason = sa.Column(sa.Text)
    request_id = sa.Column(sa.Text, nullable=False, unique=True)   # the caller's idempotency key
    batch_request_id = sa.Column(sa.Text)                          # refund_booking's request_id
    provider_refund_id = sa.Column(sa.Text)
    provider_state = sa.Column(JSONB, nullable=False, server_default="{}")
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.CheckConstraint(_one_of("status", REFUND_STATUSES), name="refund_status"),
        sa.CheckConstraint("amount > 0", name="refund_money"),
        sa.Index("refunds_by_payment", "payment_id"),
        sa.Index("refunds_by_batch", "batch_request_id",
                 postgresql_where=sa.text("batch_request_id IS NOT NULL")),
    )


class ProviderNotificationRow(Base):
    """The webhook inbox: every genuine provider notification, recorded once."""

    __tablename__ = "provider_notifications"

    id = sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    gateway = sa.Column(sa.Text, nullable=False)
    dedupe_key = sa.Column(sa.Text, nullable=False)
    payment_id = sa.Column(UUID(as_uuid=False))              # None: not one of ours
    payload = sa.Column(JSONB, nullable=False)
    received_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.UniqueConstraint("gateway", "dedupe_key",
                                          name="provider_notifications_once"),)


class IdempotencyKeyRow(Base):
    """A client's Idempotency-Key for POST /api/payments: the first answer, kept."""

    __tablename__ = "idempotency_keys"

    key = sa.Column(sa.Text, primary_key=True)
    request_hash = sa.Column(sa.Text, nullable=False)
    payment_id = sa.Column(UUID(as_uuid=False))
    response = sa.Column(JSONB)                               # None until the first answer is made
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class MockCheckoutRow(Base):
    """The mock provider's own side: what the payer did on the checkout page, and the signed
    webhook still to be delivered (with retries) to our webhook endpoint."""

    __tablename__ = "mock_checkouts"

    payment_id = sa.Column(UUID(as_uuid=False), sa.ForeignKey("payments.id"), primary_key=True)
    outcome = sa.Column(sa.Text, nullable=False)                 # succeeded | failed
    amount = sa.Column(sa.BigInteger, nullable=False)
    currency = sa.Column(sa.Text, nullable=False)
    notification = sa.Column(sa.Text, nullable=False)            # the exact JSON body that is signed
    attempts = sa.Column(sa.Integer, nullable=False, server_default="0")
    next_attempt_at = sa.Column(sa.DateTime(timezone=True))      # None: delivered or given up
    delivered_at = sa.Column(sa.DateTime(timezone=True))
    last_error = sa.Column(sa.Text)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("mock_checkouts_due", "next_attempt_at",
                 postgresql_where=sa.text("next_attempt_at IS NOT NULL")),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
