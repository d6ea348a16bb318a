"""The integration service's tables: the integration log, outbound webhooks, the operators
(accounts, sessions, audit trail), and its outbox and inbox."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class EventLogRow(Base):
    """One row per event consumed (a repeat delivery adds nothing), with what it drove."""

    __tablename__ = "event_log"

    event_id = sa.Column(UUID(as_uuid=False), primary_key=True)
    type = sa.Column(sa.Text, nullable=False)
    version = sa.Column(sa.Integer, nullable=False)
    source = sa.Column(sa.Text, nullable=False)
    occurred_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    received_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    # Pulled out of the payload so operators can search by them.
    booking_id = sa.Column(sa.Text)
    payment_id = sa.Column(sa.Text)
    payload = sa.Column(JSONB, nullable=False)
    status = sa.Column(sa.Text, nullable=False)        # logged | done | failed | dead
    reaction = sa.Column(sa.Text)
    outcome = sa.Column(sa.Text)
    attempts = sa.Column(sa.Integer, nullable=False, server_default="0")
    correlation_id = sa.Column(sa.Text)   # the request (X-Request-ID) that started the chain
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.CheckConstraint("status IN ('logged', 'done', 'failed', 'dead')",
                           name="event_log_status"),
        # The paging order of list_events (newest first) and every filter's own order.
        sa.Index("event_log_occurred", "occurred_at", "event_id"),
        sa.Index("event_log_booking", "booking_id", "occurred_at"),
        sa.Index("event_log_payment", "payment_id", "occurred_at"),
        sa.Index("event_log_type", "type", "occurred_at"),
        sa.Index("event_log_correlation", "correlation_id", "occurred_at"),
        sa.Index("event_log_unfinished", "status", "occurred_at",
                 postgresql_where=sa.text("status IN ('failed', 'dead')")),
    )


class WebhookEndpointRow(Base):
    """A receiver of the studio's events over HTTP, registered by an operator."""

    __tablename__ = "webhook_endpoints"

    id = sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    url = sa.Column(sa.Text, nullable=False)
    description = sa.Column(sa.Text, nullable=False, server_default="")
    event_types = sa.Column(JSONB, nullable=False)          # ["booking.*", "payment.succeeded"]
    include_personal_data = sa.Column(sa.Boolean, nullable=False, server_default="false")
    active = sa.Column(sa.Boolean, nullable=False, server_default="true")
    disabled_reason = sa.Column(sa.Text)
    # The signing secrets, sealed (webhook_rules.SecretBox: "sealed:<Fernet token>"); in clear
    # they leave only in the answer that creates or rotates them.
    secret = sa.Column(sa.Text, nullable=False)
    previous_secret = sa.Column(sa.Text)
    previous_secret_expires_at = sa.Column(sa.DateTime(timezone=True))
    failing_since = sa.Column(sa.DateTime(timezone=True))      # first failure since the last success
    request_id = sa.Column(sa.Text, unique=True)               # the Idempotency-Key that created it
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class WebhookEndpointsStampRow(Base):
    """One row, stamped anew (migration 0006's trigger) whenever an endpoint is added or its
    event types or active flag change: the event log's writes return it, so a process knows
    whether the endpoints it keeps are still the ones to queue deliveries for."""

    __tablename__ = "webhook_endpoints_stamp"
    __table_args__ = (sa.CheckConstraint("singleton", name="webhook_endpoints_stamp_one_row"),)

    singleton = sa.Column(sa.Boolean, primary_key=True, server_default="true")
    stamp = sa.Column(UUID(as_uuid=False), nullable=False, server_default=sa.text("gen_random_uuid()"))


class WebhookDeliveryRow(Base):
    """One event for one endpoint, and how sending it went."""

    __tablename__ = "webhook_deliveries"

    id = sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    endpoint_id = sa.Column(sa.BigInteger, sa.ForeignKey("webhook_endpoints.id"), nullable=False)
    event_id = sa.Column(UUID(as_uuid=False), nullable=False)
    event_type = sa.Column(sa.Text, nullable=False)
    booking_id = sa.Column(sa.Text)                    # deliveries of one booking go in order
    envelope = sa.Column(JSONB, nullable=False)
    status = sa.Column(sa.Text, nullable=False, server_default="pending")
    attempts = sa.Column(sa.Integer, nullable=False, server_default="0")
    # pending: when it may be tried; while a courier holds it, when its claim lapses.
    next_attempt_at = sa.Column(sa.DateTime(timezone=True))
    last_status_code = sa.Column(sa.Integer)
    last_response = sa.Column(sa.Text)                 # a bounded excerpt of the answer
    last_error = sa.Column(sa.Text)
    delivered_at = sa.Column(sa.DateTime(timezone=True))
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id", name="webhook_delivery_once"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name="webhook_delivery_status"),
        sa.Index("webhook_deliveries_due", "next_attempt_at",
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("webhook_deliveries_endpoint", "endpoint_id", "id"),
        sa.Index("webhook_deliveries_booking", "endpoint_id", "booking_id", "id",
                 postgresql_where=sa.text("status = 'pending'")),
    )


class OperatorRow(Base):
    """A person who runs the studio from the dashboard."""

    __tablename__ = "operators"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.Text, nullable=False, unique=True)
    role = sa.Column(sa.Text, nullable=False)
    password_hash = sa.Column(sa.Text, nullable=False)     # argon2id, with its own salt
    active = sa.Column(sa.Boolean, nullable=False, server_default="true")
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'manager', 'viewer')", name="operator_role"),
    )


class OperatorSessionRow(Base):
    """A signed-in browser. Only the token's hash is kept: the cookie holds the token."""

    __tablename__ = "operator_sessions"

    token_hash = sa.Column(sa.Text, primary_key=True)
    # None: a session opened with the machine token (ADMIN_TOKEN), the owner role.
    operator_id = sa.Column(sa.Integer, sa.ForeignKey("operators.id"))
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    last_seen_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    ends_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    ended_at = sa.Column(sa.DateTime(timezone=True))
    ip = sa.Column(sa.Text)


class AuditRow(Base):
    """One operator action: who, when, what, from where, under which request id."""

    __tablename__ = "audit_log"

    id = sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    operator = sa.Column(sa.Text, nullable=False)
    role = sa.Column(sa.Text)
    action = sa.Column(sa.Text, nullable=False)
    target = sa.Column(sa.Text)
    booking_id = sa.Column(sa.Text)
    details = sa.Column(JSONB, nullable=False, server_default="{}")
    outcome = sa.Column(sa.Text, nullable=False)
    ip = sa.Column(sa.Text)
    request_id = sa.Column(sa.Text)

    __table_args__ = (
        sa.Index("audit_log_at", "at"),
        sa.Index("audit_log_booking", "booking_id", "at"),
        sa.Index("audit_log_operator", "operator", "at"),
        # the sign-in limit counts recent failures by name and by address
        sa.Index("audit_log_sign_in_failed", "at", postgresql_where=sa.text(
            "action = 'sign_in' AND outcome <> 'ok'")),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
