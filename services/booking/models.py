"""The booking service's tables."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = sa.MetaData()


class HallRow(Base):
    __tablename__ = "halls"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.Text, nullable=False, unique=True)
    description = sa.Column(sa.Text, nullable=False, server_default="")
    capacity = sa.Column(sa.Integer, nullable=False)
    buffer_minutes = sa.Column(sa.Integer, nullable=False, server_default="0")
    active = sa.Column(sa.Boolean, nullable=False, server_default="true")
    opening_hours = sa.Column(JSONB)          # None: the studio's default hours
    tariff = sa.Column(JSONB, nullable=False)  # domain.Tariff.to_dict()
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    # sha256 of the token that opens the hall's calendar feed; None: no feed
    feed_token_hash = sa.Column(sa.Text)


class BookingRow(Base):
    __tablename__ = "bookings"

    id = sa.Column(UUID(as_uuid=False), primary_key=True)
    hall_id = sa.Column(sa.Integer, sa.ForeignKey("halls.id"), nullable=False)
    start_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    end_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    # [start, end + the hall's cleaning buffer): what the exclusion constraint keeps apart.
    busy = sa.Column(TSTZRANGE, nullable=False)
    status = sa.Column(sa.Text, nullable=False)
    price_total = sa.Column(sa.BigInteger, nullable=False)
    prepayment_amount = sa.Column(sa.BigInteger, nullable=False)
    amount_paid = sa.Column(sa.BigInteger, nullable=False, server_default="0")
    currency = sa.Column(sa.Text, nullable=False)
    hold_expires_at = sa.Column(sa.DateTime(timezone=True))
    payment_ids = sa.Column(JSONB, nullable=False, server_default="[]")
    overpaid = sa.Column(JSONB, nullable=False, server_default="{}")  # payment id -> kopecks
    customer = sa.Column(JSONB, nullable=False)
    comment = sa.Column(sa.Text)
    access_token_hash = sa.Column(sa.Text, nullable=False)
    client_ip = sa.Column(sa.Text)  # where the hold came from (the limit of holds per address)
    refund_due = sa.Column(sa.BigInteger)
    cancelled_by = sa.Column(sa.Text)
    # Counts the booking's changes: calendars read it as the event's SEQUENCE.
    revision = sa.Column(sa.Integer, nullable=False, server_default="0",
                         server_onupdate=sa.FetchedValue())
    reschedules = sa.Column(sa.Integer, nullable=False, server_default="0")   # times it was moved
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(),
                           server_onupdate=sa.FetchedValue())

    __table_args__ = (
        sa.CheckConstraint("end_at > start_at", name="booking_ends_after_start"),
        sa.CheckConstraint("amount_paid >= 0 AND price_total >= 0", name="booking_money"),
    )
    # updated_at and revision change in SQL (store.apply_booking): being server_onupdate, they
    # come back by the UPDATE's RETURNING, not by a second query.
    __mapper_args__ = {"eager_defaults": True}


class BlockRow(Base):
    """A closure of a hall's time: no booking may take any of `period` (migration
    0005_closures keeps them apart)."""
    __tablename__ = "blocks"

    id = sa.Column(UUID(as_uuid=False), primary_key=True)
    hall_id = sa.Column(sa.Integer, sa.ForeignKey("halls.id"), nullable=False)
    period = sa.Column(TSTZRANGE, nullable=False)
    reason = sa.Column(sa.Text, nullable=False)
    created_by = sa.Column(sa.Text)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class SpecialDayRow(Base):
    """A date with hours of its own (a short day, a holiday closed all day), for one hall or,
    with hall_id null, for every hall; a hall's own wins."""
    __tablename__ = "special_days"

    id = sa.Column(sa.Integer, primary_key=True)
    day = sa.Column(sa.Date, nullable=False)
    hall_id = sa.Column(sa.Integer, sa.ForeignKey("halls.id"))
    opens = sa.Column(sa.Text)    # "HH:MM"; opens and closes null: closed all day
    closes = sa.Column(sa.Text)
    note = sa.Column(sa.Text)


class DeskPaymentRow(Base):
    """Money an operator took at the studio's desk (cash or the studio's card terminal): the
    takings count it beside the providers' payments."""
    __tablename__ = "desk_payments"

    payment_id = sa.Column(sa.Text, primary_key=True)    # "desk:<uuid>", also in the booking's payment_ids
    booking_id = sa.Column(UUID(as_uuid=False), sa.ForeignKey("bookings.id"), nullable=False)
    amount = sa.Column(sa.BigInteger, nullable=False)
    taken_at = sa.Column(sa.DateTime(timezone=True), nullable=False)

    __table_args__ = (sa.CheckConstraint("amount > 0", name="desk_payment_amount"),
                      sa.Index("desk_payments_taken_at", "taken_at"))


class IdempotencyKeyRow(Base):
    """A creating call's request id (Idempotency-Key): what it answered first, kept until
    expires_at. Only hashes and ids: the token of an answer is derived again from the key."""
    __tablename__ = "idempotency_keys"

    operation = sa.Column(sa.Text, primary_key=True)
    key = sa.Column(sa.Text, primary_key=True)   # sha256 of the client's key, never the key itself
    request_hash = sa.Column(sa.Text, nullable=False)
    result = sa.Column(JSONB, nullable=False, server_default="{}")
    token_salt = sa.Column(sa.Text, nullable=False)
    expires_at = sa.Column(sa.DateTime(timezone=True), nullable=False)


outbox, inbox = reliability_tables_v1(Base.metadata)
