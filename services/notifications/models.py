"""The notifications service's tables."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class NotificationRow(Base):
    """One message to one recipient over one channel, and how its delivery went."""

    __tablename__ = "notifications"

    id = sa.Column(sa.BigInteger, primary_key=True, autoincrement=True)
    booking_id = sa.Column(sa.Text)
    # The event it answers; a reminder's is derived from its booking, an operator's send
    # gets a fresh one. With channel, recipient and template it makes a repeat harmless.
    event_id = sa.Column(UUID(as_uuid=False), nullable=False)
    channel = sa.Column(sa.Text, nullable=False)
    recipient = sa.Column(sa.Text, nullable=False)
    audience = sa.Column(sa.Text, nullable=False)        # customer | studio | direct
    template = sa.Column(sa.Text, nullable=False)
    text = sa.Column(sa.Text, nullable=False)
    status = sa.Column(sa.Text, nullable=False, server_default="pending")
    attempts = sa.Column(sa.Integer, nullable=False, server_default="0")
    last_error = sa.Column(sa.Text)
    # pending: when it may be tried (next); while a courier holds it, when its claim lapses.
    next_attempt_at = sa.Column(sa.DateTime(timezone=True))
    sent_at = sa.Column(sa.DateTime(timezone=True))
    provider_message_id = sa.Column(sa.Text)
    correlation_id = sa.Column(sa.Text)   # the chain it belongs to (its notification.* events too)
    calendar = sa.Column(sa.Text)    # the .ics an e-mail carries (a booking's confirmation)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.UniqueConstraint("event_id", "channel", "recipient", "template",
                            name="notifications_once_per_event"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notification_status"),
        sa.Index("notifications_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
        sa.Index("notifications_booking", "booking_id", "id"),
    )


class BookingCopyRow(Base):
    """The latest booking.* event seen per booking: who to tell about its payments, and which
    confirmed bookings are coming up for a reminder. The booking service stays the owner."""

    __tablename__ = "booking_copies"

    booking_id = sa.Column(sa.Text, primary_key=True)
    status = sa.Column(sa.Text, nullable=False)
    start_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    end_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    payload = sa.Column(JSONB, nullable=False)        # the event's payload, as the templates read it
    # occurred_at of the event written here: an older event arriving late changes nothing.
    event_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    reminded_at = sa.Column(sa.DateTime(timezone=True))
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("booking_copies_to_remind", "start_at",
                 postgresql_where=sa.text("status = 'confirmed' AND reminded_at IS NULL")),
        sa.Index("booking_copies_end", "end_at"),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
