"""The booking service's tables."""
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = MetaData()


class HallRow(Base):
    __tablename__ = "halls"

    id = Column(Integer, primary_key=True)
    name = Column(Text, nullable=False, unique=True)
    description = Column(Text, nullable=False, server_default="")
    capacity = Column(Integer, nullable=False)
    buffer_minutes = Column(Integer, nullable=False, server_default="0")
    active = Column(Boolean, nullable=False, server_default="true")
    opening_hours = Column(JSONB)          # None: the studio's default hours
    tariff = Column(JSONB, nullable=False)  # domain.Tariff.to_dict()
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # sha256 of the token that opens the hall's calendar feed; None: no feed
    feed_token_hash = Column(Text)


class BookingRow(Base):
    __tablename__ = "bookings"

    id = Column(UUID(as_uuid=False), primary_key=True)
    hall_id = Column(Integer, ForeignKey("halls.id"), nullable=False)
    start_at = Column(DateTime(timezone=True), nullable=False)
    end_at = Column(DateTime(timezone=True), nullable=False)
    # [start, end + the hall's cleaning buffer): what the exclusion constraint keeps apart.
    busy = Column(TSTZRANGE, nullable=False)
    status = Column(Text, nullable=False)
    price_total = Column(BigInteger, nullable=False)
    prepayment_amount = Column(BigInteger, nullable=False)
    amount_paid = Column(BigInteger, nullable=False, server_default="0")
    currency = Column(Text, nullable=False)
    hold_expires_at = Column(DateTime(timezone=True))
    payment_ids = Column(JSONB, nullable=False, server_default="[]")
    overpaid = Column(JSONB, nullable=False, server_default="{}")  # payment id -> kopecks
    customer = Column(JSONB, nullable=False)
    comment = Column(Text)
    access_token_hash = Column(Text, nullable=False)
    client_ip = Column(Text)  # where the hold came from (the limit of holds per address)
    refund_due = Column(BigInteger)
    cancelled_by = Column(Text)
    # Counts the booking's changes: calendars read it as the event's SEQUENCE.
    revision = Column(Integer, nullable=False, server_default="0")
    reschedules = Column(Integer, nullable=False, server_default="0")   # times it was moved
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("end_at > start_at", name="booking_ends_after_start"),
        CheckConstraint("amount_paid >= 0 AND price_total >= 0", name="booking_money"),
    )
    # updated_at and revision change in SQL: RETURNING brings them back, no second query.
    __mapper_args__ = {"eager_defaults": True}


class BlockRow(Base):
    """A closure of a hall's time: no booking may take any of `period` (migration
    0005_closures keeps them apart)."""
    __tablename__ = "blocks"

    id = Column(UUID(as_uuid=False), primary_key=True)
    hall_id = Column(Integer, ForeignKey("halls.id"), nullable=False)
    period = Column(TSTZRANGE, nullable=False)
    reason = Column(Text, nullable=False)
    created_by = Column(Text)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class SpecialDayRow(Base):
    """A date with hours of its own (a short day, a holiday closed all day), for one hall or,
    with hall_id null, for every hall; a hall's own wins."""
    __tablename__ = "special_days"

    id = Column(Integer, primary_key=True)
    day = Column(Date, nullable=False)
    hall_id = Column(Integer, ForeignKey("halls.id"))
    opens = Column(Text)    # "HH:MM"; opens and closes null: closed all day
    closes = Column(Text)
    note = Column(Text)


class DeskPaymentRow(Base):
    """Money an operator took at the studio's desk (cash or the studio's card terminal): the
    takings count it beside the providers' payments."""
    __tablename__ = "desk_payments"

    payment_id = Column(Text, primary_key=True)    # "desk:<uuid>", also in the booking's payment_ids
    booking_id = Column(UUID(as_uuid=False), ForeignKey("bookings.id"), nullable=False)
    amount = Column(BigInteger, nullable=False)
    taken_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (CheckConstraint("amount > 0", name="desk_payment_amount"),
                      Index("desk_payments_taken_at", "taken_at"))


class IdempotencyKeyRow(Base):
    """A creating call's request id (Idempotency-Key): what it answered first, kept until
    expires_at. Only hashes and ids: the token of an answer is derived again from the key."""
    __tablename__ = "idempotency_keys"

    operation = Column(Text, primary_key=True)
    key = Column(Text, primary_key=True)   # sha256 of the client's key, never the key itself
    request_hash = Column(Text, nullable=False)
    result = Column(JSONB, nullable=False, server_default="{}")
    token_salt = Column(Text, nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)


outbox, inbox = reliability_tables_v1(Base.metadata)
