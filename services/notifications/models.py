"""The notifications service's tables."""
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = MetaData()


class NotificationRow(Base):
    """One message to one recipient over one channel, and how its delivery went."""

    __tablename__ = "notifications"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    booking_id = Column(Text)
    # The event it answers; a reminder's is derived from its booking, an operator's send
    # gets a fresh one. With channel, recipient and template it makes a repeat harmless.
    event_id = Column(UUID(as_uuid=False), nullable=False)
    channel = Column(Text, nullable=False)
    recipient = Column(Text, nullable=False)
    audience = Column(Text, nullable=False)        # customer | studio | direct
    template = Column(Text, nullable=False)
    text = Column(Text, nullable=False)
    status = Column(Text, nullable=False, server_default="pending")
    attempts = Column(Integer, nullable=False, server_default="0")
    last_error = Column(Text)
    # pending: when it may be tried (next); while a courier holds it, when its claim lapses.
    next_attempt_at = Column(DateTime(timezone=True))
    sent_at = Column(DateTime(timezone=True))
    provider_message_id = Column(Text)
    correlation_id = Column(Text)   # the chain it belongs to (its notification.* events too)
    calendar = Column(Text)    # the .ics an e-mail carries (a booking's confirmation)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient", "template",
                         name="notifications_once_per_event"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notification_status"),
        Index("notifications_due", "next_attempt_at", postgresql_where=sql("status = 'pending'")),
        Index("notifications_booking", "booking_id", "id"),
    )


class BookingCopyRow(Base):
    """The latest booking.* event seen per booking: who to tell about its payments, and which
    confirmed bookings are coming up for a reminder. The booking service stays the owner."""

    __tablename__ = "booking_copies"

    booking_id = Column(Text, primary_key=True)
    status = Column(Text, nullable=False)
    start_at = Column(DateTime(timezone=True), nullable=False)
    end_at = Column(DateTime(timezone=True), nullable=False)
    payload = Column(JSONB, nullable=False)        # the event's payload, as the templates read it
    # occurred_at of the event written here: an older event arriving late changes nothing.
    event_at = Column(DateTime(timezone=True), nullable=False)
    reminded_at = Column(DateTime(timezone=True))
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("booking_copies_to_remind", "start_at",
              postgresql_where=sql("status = 'confirmed' AND reminded_at IS NULL")),
        Index("booking_copies_end", "end_at"),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
