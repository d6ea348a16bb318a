"""The payments service's tables."""
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from contracts.payments import PAYMENT_KINDS, PAYMENT_STATUSES, REFUND_STATUSES
from services.common.tables import reliability_tables_v1


def _one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData()


class PaymentRow(Base):
    """One payment attempt. Its id is the provider's idempotency key / OrderId / orderNumber."""

    __tablename__ = "payments"

    id = Column(UUID(as_uuid=False), primary_key=True)
    booking_id = Column(UUID(as_uuid=False), nullable=False)
    kind = Column(Text, nullable=False)
    amount = Column(BigInteger, nullable=False)           # kopecks, from the booking
    currency = Column(Text, nullable=False)
    gateway = Column(Text, nullable=False)                # what the customer chose
    provider = Column(Text, nullable=False)               # the adapter used (mock in mock mode)
    status = Column(Text, nullable=False)
    provider_payment_id = Column(Text)
    confirmation_url = Column(Text)
    return_url = Column(Text)
    description = Column(Text, nullable=False, server_default="")
    refunded_amount = Column(BigInteger, nullable=False, server_default="0")
    provider_state = Column(JSONB, nullable=False, server_default="{}")
    receipt = Column(JSONB)     # the fiscal receipt sent with it (services.payments.receipts)
    checked_at = Column(DateTime(timezone=True))          # last asked the provider (reconcile)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="payment_kind"),
        CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="payment_status"),
        CheckConstraint("amount > 0 AND refunded_amount >= 0 AND refunded_amount <= amount",
                        name="payment_money"),
        # A second request for the same booking and kind gets the pending one back.
        Index("payments_one_pending_per_kind", "booking_id", "kind", unique=True,
              postgresql_where=text("status = 'pending'")),
        Index("payments_by_provider_id", "provider", "provider_payment_id", unique=True,
              postgresql_where=text("provider_payment_id IS NOT NULL")),
        Index("payments_by_booking", "booking_id", "created_at"),
        Index("payments_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )


class RefundRow(Base):
    """One refund. Its id is the provider's idempotency key (Idempotence-Key, ExternalRequestId)."""

    __tablename__ = "refunds"

    id = Column(UUID(as_uuid=False), primary_key=True)
    payment_id = Column(UUID(as_uuid=False), ForeignKey("payments.id"), nullable=False)
    amount = Column(BigInteger, nullable=False)
    status = Column(Text, nullable=False)
    reason = Column(Text)
    request_id = Column(Text, nullable=False, unique=True)   # the caller's idempotency key
    batch_request_id = Column(Text)                          # refund_booking's request_id
    provider_refund_id = Column(Text)
    provider_state = Column(JSONB, nullable=False, server_default="{}")
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint(_one_of("status", REFUND_STATUSES), name="refund_status"),
        CheckConstraint("amount > 0", name="refund_money"),
        Index("refunds_by_payment", "payment_id"),
        Index("refunds_by_batch", "batch_request_id",
              postgresql_where=text("batch_request_id IS NOT NULL")),
    )


class ProviderNotificationRow(Base):
    """The webhook inbox: every genuine provider notification, recorded once."""

    __tablename__ = "provider_notifications"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    gateway = Column(Text, nullable=False)
    dedupe_key = Column(Text, nullable=False)
    payment_id = Column(UUID(as_uuid=False))              # None: not one of ours
    payload = Column(JSONB, nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (UniqueConstraint("gateway", "dedupe_key",
                                       name="provider_notifications_once"),)


class IdempotencyKeyRow(Base):
    """A client's Idempotency-Key for POST /api/payments: the first answer, kept."""

    __tablename__ = "idempotency_keys"

    key = Column(Text, primary_key=True)
    request_hash = Column(Text, nullable=False)
    payment_id = Column(UUID(as_uuid=False))
    response = Column(JSONB)                               # None until the first answer is made
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class MockCheckoutRow(Base):
    """The mock provider's own side: what the payer did on the checkout page, and the signed
    webhook still to be delivered (with retries) to our webhook endpoint."""

    __tablename__ = "mock_checkouts"

    payment_id = Column(UUID(as_uuid=False), ForeignKey("payments.id"), primary_key=True)
    outcome = Column(Text, nullable=False)                 # succeeded | failed
    amount = Column(BigInteger, nullable=False)
    currency = Column(Text, nullable=False)
    notification = Column(Text, nullable=False)            # the exact JSON body that is signed
    attempts = Column(Integer, nullable=False, server_default="0")
    next_attempt_at = Column(DateTime(timezone=True))      # None: delivered or given up
    delivered_at = Column(DateTime(timezone=True))
    last_error = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("mock_checkouts_due", "next_attempt_at",
              postgresql_where=text("next_attempt_at IS NOT NULL")),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
