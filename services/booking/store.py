"""Queries of the booking service: rows in, domain objects out, and back."""
from datetime import datetime

from psycopg2.extras import DateTimeTZRange
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from contracts.errors.booking import BookingNotFound, BookingRuleViolation, HallNotFound, SlotTaken
from services.booking.domain import ACTIVE_STATUSES, Booking, Hall, OpeningHours, Tariff, busy_range
from services.booking.models import BookingRow, HallRow
from services.common.input import uuid_or_none
from services.common.paging import decode_cursor, page

EXCLUSION_VIOLATION = "23P01"


def hall_from_row(row):
    return Hall(id=row.id, name=row.name, description=row.description, capacity=row.capacity,
                buffer_minutes=row.buffer_minutes, active=row.active,
                tariff=Tariff.from_dict(row.tariff),
                opening_hours=OpeningHours.parse(row.opening_hours) if row.opening_hours
                else None)


def load_hall_row(session, hall_id):
    row = session.get(HallRow, hall_id)
    if row is None:
        raise HallNotFound(f"There is no hall {hall_id}.", {"hall_id": hall_id})
    return row


def load_hall(session, hall_id):
    return hall_from_row(load_hall_row(session, hall_id))


def list_hall_rows(session, include_inactive=False):
    query = select(HallRow).order_by(HallRow.id)
    if not include_inactive:
        query = query.where(HallRow.active.is_(True))
    return session.scalars(query).all()


def active_ranges(session, hall_id, start, end):
    """(start, end) of the hall's active bookings that touch [start, end)."""
    return session.execute(
        select(BookingRow.start_at, BookingRow.end_at).where(
            BookingRow.hall_id == hall_id, BookingRow.status.in_(ACTIVE_STATUSES),
            BookingRow.start_at < end, BookingRow.end_at > start)).all()


def booking_from_row(row):
    return Booking(id=row.id, hall_id=row.hall_id, start=row.start_at, end=row.end_at,
                   status=row.status, price_total=row.price_total,
                   prepayment_amount=row.prepayment_amount, amount_paid=row.amount_paid,
                   currency=row.currency, hold_expires_at=row.hold_expires_at,
                   payment_ids=row.payment_ids, customer=row.customer,
                   overpaid=row.overpaid)


def insert_booking(session, booking, hall, access_token_hash, comment):
    """One INSERT, guarded by the exclusion constraint: of overlapping requests exactly one
    commits, the others get SlotTaken."""
    row = BookingRow(
        id=booking.id, hall_id=booking.hall_id, start_at=booking.start, end_at=booking.end,
        busy=DateTimeTZRange(*busy_range(booking.start, booking.end, hall.buffer_minutes)),
        status=booking.status, price_total=booking.price_total,
        prepayment_amount=booking.prepayment_amount, amount_paid=booking.amount_paid,
        currency=booking.currency, hold_expires_at=booking.hold_expires_at,
        payment_ids=booking.payment_ids, customer=booking.customer, comment=comment,
        access_token_hash=access_token_hash)
    session.add(row)
    flush_or_slot_taken(session, hall)
    return row


def flush_or_slot_taken(session, hall):
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "pgcode", None) == EXCLUSION_VIOLATION:
            raise SlotTaken(
                "This time overlaps another booking of the hall"
                + (f" or its {hall.buffer_minutes}-minute cleaning buffer."
                   if hall.buffer_minutes else "."), {"hall_id": hall.id})
        raise


def load_booking_row(session, booking_id, for_update=False):
    key = uuid_or_none(booking_id)
    row = None
    if key is not None:
        query = select(BookingRow).where(BookingRow.id == key)
        row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise BookingNotFound(f"There is no booking {booking_id}.", {"booking_id": booking_id})
    return row


def apply_booking(row, booking, **extra):
    """Copy a changed domain booking back onto its row."""
    row.status = booking.status
    row.amount_paid = booking.amount_paid
    row.payment_ids = list(booking.payment_ids)
    row.overpaid = dict(booking.overpaid)
    row.updated_at = func.now()
    for name, value in extra.items():
        setattr(row, name, value)


def list_booking_rows(session, hall_id=None, status=None, start_from=None, start_before=None,
                      cursor=None, limit=50):
    """Bookings by start time, keyset-paged: returns (rows, next_cursor)."""
    query = select(BookingRow).order_by(BookingRow.start_at, BookingRow.id)
    if hall_id is not None:
        query = query.where(BookingRow.hall_id == hall_id)
    if status is not None:
        query = query.where(BookingRow.status == status)
    if start_from is not None:
        query = query.where(BookingRow.start_at >= start_from)
    if start_before is not None:
        query = query.where(BookingRow.start_at < start_before)
    if cursor:
        after_start, after_id = decode_cursor(
            cursor, lambda start, booking_id: (datetime.fromisoformat(start), booking_id),
            BookingRuleViolation)
        query = query.where(or_(BookingRow.start_at > after_start,
                                and_(BookingRow.start_at == after_start,
                                     BookingRow.id > after_id)))
    return page(session, query, limit, lambda row: (row.start_at.isoformat(), str(row.id)))


def due_holds(session, now, limit=100):
    """Unpaid bookings whose hold has run out, locked; other expirers skip them."""
    return session.scalars(
        select(BookingRow).where(BookingRow.status == "pending_payment",
                                 BookingRow.hold_expires_at <= now)
        .order_by(BookingRow.hold_expires_at).limit(limit)
        .with_for_update(skip_locked=True)).all()


def finished_bookings(session, now, limit=100):
    return session.scalars(
        select(BookingRow).where(BookingRow.status == "confirmed", BookingRow.end_at <= now)
        .order_by(BookingRow.end_at).limit(limit).with_for_update(skip_locked=True)).all()


def retake_slot(session, row, hall):
    """Make an expired hold active again, if its slot is still free (else SlotTaken)."""
    row.status = "pending_payment"
    flush_or_slot_taken(session, hall)
