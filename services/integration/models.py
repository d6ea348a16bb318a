"""The integration service's tables: the integration log, outbound webhooks, the operators
(accounts, sessions, audit trail), and its outbox and inbox."""
from sqlalchemy import (
    BigInteger,
    Boolean,
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

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = MetaData()


class EventLogRow(Base):
    """One row per event consumed (a repeat delivery adds nothing), with what it drove."""

    __tablename__ = "event_log"

    event_id = Column(UUID(as_uuid=False), primary_key=True)
    type = Column(Text, nullable=False)
    version = Column(Integer, nullable=False)
    source = Column(Text, nullable=False)
    occurred_at = Column(DateTime(timezone=True), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # Pulled out of the payload so operators can search by them.
    booking_id = Column(Text)
    payment_id = Column(Text)
    payload = Column(JSONB, nullable=False)
    status = Column(Text, nullable=False)        # logged | done | failed | dead
    reaction = Column(Text)
    outcome = Column(Text)
    attempts = Column(Integer, nullable=False, server_default="0")
    correlation_id = Column(Text)   # the request (X-Request-ID) that started the chain
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("status IN ('logged', 'done', 'failed', 'dead')",
                        name="event_log_status"),
        # The paging order of list_events (newest first) and every filter's own order.
        Index("event_log_occurred", "occurred_at", "event_id"),
        Index("event_log_booking", "booking_id", "occurred_at"),
        Index("event_log_payment", "payment_id", "occurred_at"),
        Index("event_log_type", "type", "occurred_at"),
        Index("event_log_correlation", "correlation_id", "occurred_at"),
        Index("event_log_unfinished", "status", "occurred_at",
              postgresql_where=text("status IN ('failed', 'dead')")),
    )


class WebhookEndpointRow(Base):
    """A receiver of the studio's events over HTTP, registered by an operator."""

    __tablename__ = "webhook_endpoints"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    url = Column(Text, nullable=False)
    description = Column(Text, nullable=False, server_default="")
    event_types = Column(JSONB, nullable=False)          # ["booking.*", "payment.succeeded"]
    include_personal_data = Column(Boolean, nullable=False, server_default="false")
    active = Column(Boolean, nullable=False, server_default="true")
    disabled_reason = Column(Text)
    # The signing secrets, sealed (webhook_rules.SecretBox: "sealed:<Fernet token>"); in clear
    # they leave only in the answer that creates or rotates them.
    secret = Column(Text, nullable=False)
    previous_secret = Column(Text)
    previous_secret_expires_at = Column(DateTime(timezone=True))
    failing_since = Column(DateTime(timezone=True))      # first failure since the last success
    request_id = Column(Text, unique=True)               # the Idempotency-Key that created it
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class WebhookDeliveryRow(Base):
    """One event for one endpoint, and how sending it went."""

    __tablename__ = "webhook_deliveries"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    endpoint_id = Column(BigInteger, ForeignKey("webhook_endpoints.id"), nullable=False)
    event_id = Column(UUID(as_uuid=False), nullable=False)
    event_type = Column(Text, nullable=False)
    booking_id = Column(Text)                    # deliveries of one booking go in order
    envelope = Column(JSONB, nullable=False)
    status = Column(Text, nullable=False, server_default="pending")
    attempts = Column(Integer, nullable=False, server_default="0")
    # pending: when it may be tried; while a courier holds it, when its claim lapses.
    next_attempt_at = Column(DateTime(timezone=True))
    last_status_code = Column(Integer)
    last_response = Column(Text)                 # a bounded excerpt of the answer
    last_error = Column(Text)
    delivered_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="webhook_delivery_once"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                        name="webhook_delivery_status"),
        Index("webhook_deliveries_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'")),
        Index("webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("webhook_deliveries_booking", "endpoint_id", "booking_id", "id",
              postgresql_where=text("status = 'pending'")),
    )


class OperatorRow(Base):
    """A person who runs the studio from the dashboard."""

    __tablename__ = "operators"

    id = Column(Integer, primary_key=True)
    name = Column(Text, nullable=False, unique=True)
    role = Column(Text, nullable=False)
    password_hash = Column(Text, nullable=False)     # argon2id, with its own salt
    active = Column(Boolean, nullable=False, server_default="true")
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("role IN ('owner', 'manager', 'viewer')", name="operator_role"),
    )


class OperatorSessionRow(Base):
    """A signed-in browser. Only the token's hash is kept: the cookie holds the token."""

    __tablename__ = "operator_sessions"

    token_hash = Column(Text, primary_key=True)
    # None: a session opened with the machine token (ADMIN_TOKEN), the owner role.
    operator_id = Column(Integer, ForeignKey("operators.id"))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    last_seen_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    ends_at = Column(DateTime(timezone=True), nullable=False)
    ended_at = Column(DateTime(timezone=True))
    ip = Column(Text)


class AuditRow(Base):
    """One operator action: who, when, what, from where, under which request id."""

    __tablename__ = "audit_log"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    operator = Column(Text, nullable=False)
    role = Column(Text)
    action = Column(Text, nullable=False)
    target = Column(Text)
    booking_id = Column(Text)
    details = Column(JSONB, nullable=False, server_default="{}")
    outcome = Column(Text, nullable=False)
    ip = Column(Text)
    request_id = Column(Text)

    __table_args__ = (
        Index("audit_log_at", "at"),
        Index("audit_log_booking", "booking_id", "at"),
        Index("audit_log_operator", "operator", "at"),
        # the sign-in limit counts recent failures by name and by address
        Index("audit_log_sign_in_failed", "at", postgresql_where=text(
            "action = 'sign_in' AND outcome <> 'ok'")),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
