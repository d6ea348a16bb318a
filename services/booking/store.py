"""Queries of the booking service: rows in, domain objects out, and back.

The statements on the hot paths (a new hold, the timers) are plain SQL built once at import;
the rest uses the ORM."""
import hashlib
import json
import re
import time
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import NamedTuple

from psycopg2.extras import DateTimeTZRange
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from contracts.errors.booking import (
    BlockNotFound,
    BookingNotFound,
    BookingRuleViolation,
    HallClosed,
    HallNameTaken,
    HallNotFound,
    SlotTaken,
)
from services.booking.domain import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Hall,
    OpeningHours,
    Tariff,
    busy_range,
    special_hours,
)
from services.booking.models import BlockRow, BookingRow, DeskPaymentRow, HallRow, SpecialDayRow
from services.common.db import EACH_STATEMENT_COMMITS, row_by_id
from services.common.outbox import with_event
from services.common.paging import decode_cursor, page

EXCLUSION_VIOLATION = "23P01"
HALL_NAME_KEY = "halls_name_key"         # migration 0001_initial: one hall per name
BLOCK_TRIGGER = "booking_not_on_block"   # migration 0005_closures
HALL_TIME_LOCK = 7305                    # its advisory lock's first key
PENDING, CONFIRMED = BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED


# --- halls -----------------------------------------------------------------------------------

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


_HALL_STAMP = text("SELECT updated_at FROM halls WHERE id = :id")
# A hall's special days changed (or, hall id null, every hall's): its cached copies are stale.
_TOUCH_HALLS = text("UPDATE halls SET updated_at = clock_timestamp() "
                    "WHERE CAST(:id AS integer) IS NULL OR id = :id")


class ParsedHalls:
    """The halls this process has parsed (tariff, opening hours, special days).

    While `hall_watch.HallWatch` listens for hall changes (migration 0007's NOTIFY) a copy is
    used as it is for up to `trust_seconds` after it was last checked; otherwise each use
    checks it against its row's updated_at first (one primary-key read of one column). Either
    way a hall changed through any booking process, or by hand, is read again at its next use
    (special days touch their hall: `touch_halls`)."""

    class Parsed(NamedTuple):
        stamp: datetime             # the row's updated_at when it was read
        hall: Hall
        special_days: dict          # {date: special hours}
        checked_at: float           # time.monotonic() of its last check against the row

    def __init__(self):
        self._halls = {}  # id -> Parsed
        self.watched = False
        self.trust_seconds = 30.0
        # Counts changes heard: a copy read while one came in may be older than it, and is
        # used once but not kept.
        self._changes = 0

    def get(self, session, hall_id):
        """(Hall, {date: its special hours, None when closed}) of the hall."""
        cached = self._halls.get(hall_id)
        now = time.monotonic()
        if cached is not None and self.watched and now - cached.checked_at < self.trust_seconds:
            return cached.hall, cached.special_days
        changes = self._changes
        # a read: outside a transaction it opens none (the caller's insert may commit alone)
        stamp = session.execute(_HALL_STAMP, {"id": hall_id},
                                execution_options={EACH_STATEMENT_COMMITS: True}).scalar()
        if stamp is None:
            raise HallNotFound(f"There is no hall {hall_id}.", {"hall_id": hall_id})
        if cached is not None and cached.stamp == stamp:
            entry = cached._replace(checked_at=now)
        else:
            row = load_hall_row(session, hall_id)
            entry = self.Parsed(row.updated_at, hall_from_row(row),
                                _special_days_of_hall(session, hall_id), now)
        if changes == self._changes:
            self._halls[hall_id] = entry
        return entry.hall, entry.special_days

    def changed(self, hall_id=None):
        """A hall (None: any) changed: its copy goes."""
        self._changes += 1
        if hall_id is None:
            self._halls.clear()
        else:
            self._halls.pop(hall_id, None)

    def watch(self, watched):
        """Changes are heard from now on (True), or may be missed (False); either way what
        was kept before may be stale."""
        self.changed()
        self.watched = watched


halls = ParsedHalls()


def load_hall(session, hall_id):
    return halls.get(session, hall_id)[0]


def load_hall_and_special_days(session, hall_id):
    """The hall and {date: special hours} of every special day it has (its own, else the
    studio's), with one check of the hall's stamp."""
    return halls.get(session, hall_id)


def save_hall_row(session, row):
    """Write a new or changed hall; HallNameTaken when another hall has its name (and the
    transaction is over)."""
    name = row.name   # a failed flush leaves the row unreadable
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        if _refused_by(exc) != HALL_NAME_KEY:
            raise
        raise HallNameTaken(f"Another hall is already named {name!r}.",
                            {"name": ["another hall has this name"]}) from None


def touch_halls(session, hall_id=None):
    session.execute(_TOUCH_HALLS, {"id": hall_id})
    halls.changed(hall_id)   # this process at once; the others when the NOTIFY comes


def list_hall_rows(session, include_inactive=False):
    query = select(HallRow).order_by(HallRow.id)
    if not include_inactive:
        query = query.where(HallRow.active.is_(True))
    return session.scalars(query).all()


# --- the calendar ------------------------------------------------------------------------------

def active_ranges(session, hall_id, start, end, now):
    """(start, end) of the hall's bookings holding their slot at `now` that touch
    [start, end): a hold whose time has run out holds nothing, expired or not yet."""
    return session.execute(
        select(BookingRow.start_at, BookingRow.end_at).where(
            BookingRow.hall_id == hall_id, BookingRow.status.in_(ACTIVE_STATUSES),
            or_(BookingRow.status != PENDING, BookingRow.hold_expires_at > now),
            BookingRow.start_at < end, BookingRow.end_at > start)).all()


# --- bookings ----------------------------------------------------------------------------------

def booking_from_row(row):
    return Booking(id=row.id, hall_id=row.hall_id, start=row.start_at, end=row.end_at,
                   status=row.status, price_total=row.price_total,
                   prepayment_amount=row.prepayment_amount, amount_paid=row.amount_paid,
                   currency=row.currency, hold_expires_at=row.hold_expires_at,
                   payment_ids=row.payment_ids, customer=row.customer,
                   overpaid=row.overpaid, reschedules=row.reschedules)


_INSERT_BOOKING = text(
    "INSERT INTO bookings (id, hall_id, start_at, end_at, busy, status, price_total, "
    "prepayment_amount, amount_paid, currency, hold_expires_at, payment_ids, customer, "
    "comment, access_token_hash, client_ip, created_at) VALUES (:id, :hall_id, :start_at, "
    ":end_at, :busy, :status, :price_total, :prepayment_amount, :amount_paid, :currency, "
    ":hold_expires_at, CAST(:payment_ids AS jsonb), CAST(:customer AS jsonb), :comment, "
    ":access_token_hash, :client_ip, :created_at) RETURNING updated_at")
# The same, skipped (no row back) when the slot is held: the exclusion constraint arbitrates
# without an error, so the transaction goes on (concurrent requests for one slot wait for each
# other's insert, as with a unique index, rather than deadlock). Both record the new booking's
# event in the same statement (outbox.with_event): one round trip for the row and its event.
_INSERT_BOOKING_IF_FREE = with_event(text(_INSERT_BOOKING.text.replace(
    " RETURNING ", " ON CONFLICT DO NOTHING RETURNING ")))
_INSERT_BOOKING = with_event(_INSERT_BOOKING)


def new_booking_row(booking, hall, access_token_hash, comment, client_ip, now):
    """The row a new booking is to be, not yet inserted (what its event and the answer are
    made of), with the defaults the table would fill in; its updated_at is the database's to
    set (insert_booking reads it back). A plain namespace with the row's attributes: it is
    never added to a session, so the ORM's bookkeeping of a mapped instance would be waste."""
    return SimpleNamespace(
        id=booking.id, hall_id=booking.hall_id, start_at=booking.start, end_at=booking.end,
        busy=DateTimeTZRange(*busy_range(booking.start, booking.end, hall.buffer_minutes)),
        status=booking.status, price_total=booking.price_total,
        prepayment_amount=booking.prepayment_amount, amount_paid=booking.amount_paid,
        currency=booking.currency, hold_expires_at=booking.hold_expires_at,
        payment_ids=booking.payment_ids, customer=booking.customer, comment=comment,
        access_token_hash=access_token_hash, client_ip=client_ip, created_at=now,
        overpaid={}, refund_due=None, revision=0, reschedules=0, updated_at=None)


def insert_booking(session, row, hall, event, if_free=False, on_its_own=False):
    """One INSERT of the new_booking_row, with its event (outbox.event_params), guarded by the
    exclusion constraint: of overlapping requests exactly one commits, the others get SlotTaken
    (and their transaction is over: no savepoint). Returns the row's updated_at as stored (the
    rest of the row is what was sent: nothing else is read back). With if_free, an overlap
    returns None instead, records no event, and the transaction goes on. on_its_own: outside
    a transaction, the statement commits by itself (db.EACH_STATEMENT_COMMITS)."""
    params = {column: getattr(row, column) for column in (
        "id", "hall_id", "start_at", "end_at", "busy", "status", "price_total",
        "prepayment_amount", "amount_paid", "currency", "hold_expires_at", "comment",
        "access_token_hash", "client_ip", "created_at")}
    params.update(payment_ids=json.dumps(row.payment_ids),
                  customer=json.dumps(row.customer, ensure_ascii=False), **event)
    with slot_taken_on_overlap(hall):  # a closure's trigger refuses even with if_free
        return session.execute(_INSERT_BOOKING_IF_FREE if if_free else _INSERT_BOOKING, params,
                               execution_options={EACH_STATEMENT_COMMITS: on_its_own}
                               ).scalar_one_or_none()


def _refused_by(exc):
    """The constraint (or constraint trigger) an IntegrityError names, if any."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None)


@contextmanager
def slot_taken_on_overlap(hall):
    """Turns the exclusion constraint's refusal into SlotTaken."""
    try:
        yield
    except IntegrityError as exc:
        if getattr(exc.orig, "pgcode", None) != EXCLUSION_VIOLATION:
            raise
        if _refused_by(exc) == BLOCK_TRIGGER:
            raise HallClosed("The hall is closed for part of this time.",
                             {"hall_id": hall.id}) from None
        raise SlotTaken(
            "This time overlaps another booking of the hall"
            + (f" or its {hall.buffer_minutes}-minute cleaning buffer."
               if hall.buffer_minutes else "."), {"hall_id": hall.id}) from None


_RUN_OUT_HOLDS = text(
    "SELECT * FROM bookings WHERE hall_id = :hall_id AND busy && :busy AND status = :pending "
    "AND hold_expires_at <= :now ORDER BY id FOR UPDATE")


def run_out_holds_in_the_way(session, hall, start, end, now):
    """Unpaid holds whose time has run out but that still block [start, end) of the hall,
    locked: of two requests for their slot one expires them, the other then finds none."""
    return session.execute(_RUN_OUT_HOLDS, {
        "hall_id": hall.id, "busy": DateTimeTZRange(*busy_range(start, end,
                                                                hall.buffer_minutes)),
        "pending": PENDING, "now": now}).all()


def load_booking_row(session, booking_id, for_update=False):
    row = row_by_id(session, BookingRow, booking_id, for_update)
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
    row.revision = BookingRow.revision + 1
    for name, value in extra.items():
        setattr(row, name, value)


def move_booking(session, row, booking, hall):
    """Write a moved booking onto its row: the UPDATE releases the old range and takes the
    new one under the exclusion constraint (SlotTaken, and the transaction is over, if the
    new time is not free)."""
    apply_booking(row, booking, hall_id=booking.hall_id, start_at=booking.start,
                  end_at=booking.end,
                  busy=DateTimeTZRange(*busy_range(booking.start, booking.end,
                                                   hall.buffer_minutes)),
                  price_total=booking.price_total, prepayment_amount=booking.prepayment_amount,
                  hold_expires_at=booking.hold_expires_at, reschedules=booking.reschedules)
    with slot_taken_on_overlap(hall):
        session.flush()


def retake_slot(session, row, booking, hall):
    """Make an expired hold hold its slot again, if the slot is still free (else SlotTaken,
    and the transaction is over)."""
    booking.retake_slot()
    row.status = booking.status
    with slot_taken_on_overlap(hall):
        session.flush()


_DESK_PAYMENT = text(
    "INSERT INTO desk_payments (payment_id, booking_id, amount, taken_at) "
    "VALUES (:payment_id, :booking_id, :amount, :taken_at) ON CONFLICT DO NOTHING")


def record_desk_payment(session, payment_id, booking_id, amount, taken_at):
    """Money taken at the desk, for the takings; a repeat of the same payment adds nothing."""
    session.execute(_DESK_PAYMENT, {"payment_id": payment_id, "booking_id": str(booking_id),
                                    "amount": amount, "taken_at": taken_at})


def desk_payments_of(session, booking_id):
    return session.scalars(select(DeskPaymentRow).where(DeskPaymentRow.booking_id == booking_id)
                           .order_by(DeskPaymentRow.taken_at)).all()


_SET_STATUS = text("UPDATE bookings SET status = :status, updated_at = now(), "
                   "revision = revision + 1 WHERE id = ANY(CAST(:ids AS uuid[]))")


def set_status(session, booking_ids, status):
    """Many bookings moved by the same transition (the timers, lazy expiry)."""
    if booking_ids:
        session.execute(_SET_STATUS, {"status": status, "ids": list(booking_ids)})


_DUE_HOLDS = text(
    "SELECT * FROM bookings WHERE status = :pending AND hold_expires_at <= :now "
    "ORDER BY hold_expires_at LIMIT :n FOR UPDATE SKIP LOCKED")
_FINISHED = text(
    "SELECT * FROM bookings WHERE status = :confirmed AND end_at <= :now "
    "ORDER BY end_at LIMIT :n FOR UPDATE SKIP LOCKED")


def due_holds(session, now, limit):
    """Unpaid bookings whose hold has run out, locked; other expirers skip them."""
    return session.execute(_DUE_HOLDS, {"pending": PENDING, "now": now, "n": limit}).all()


def finished_bookings(session, now, limit):
    """Confirmed bookings that have ended, locked; other processes skip them."""
    return session.execute(_FINISHED, {"confirmed": CONFIRMED, "now": now, "n": limit}).all()


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


# --- a customer's unpaid holds ------------------------------------------------------------------

_PHONE_DIGITS_SQL = "regexp_replace(customer->>'phone', '[^0-9]', '', 'g')"
_LOCK_HOLDERS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                     "AS k")
_COUNT_HOLDS = text(
    f"SELECT count(*) FILTER (WHERE {_PHONE_DIGITS_SQL} = :phone), "
    "count(*) FILTER (WHERE lower(customer->>'email') = :email), "
    "count(*) FILTER (WHERE client_ip = :ip) "
    "FROM bookings WHERE status = :pending AND hold_expires_at > :now "
    f"AND ({_PHONE_DIGITS_SQL} = :phone OR lower(customer->>'email') = :email "
    "OR client_ip = :ip)")


def holder_keys(customer, client_ip):
    """Who a hold counts against: the phone (its digits), the e-mail (lower case), the
    client's address; None where not known."""
    email = customer.get("email")
    return {"phone": re.sub("[^0-9]", "", customer["phone"]),
            "email": email.lower() if email else None, "ip": client_ip or None}


def count_unpaid_holds(session, holders, now):
    """{phone|email|ip: how many unpaid holds still running it has} for the holders given
    (holder_keys). Locks them for the rest of the transaction first, so two requests of one
    customer count in turn."""
    keys = sorted(_lock_key(kind, value) for kind, value in holders.items())
    session.execute(_LOCK_HOLDERS, {"keys": keys})
    counts = session.execute(_COUNT_HOLDS, {"phone": None, "email": None, "ip": None,
                                            **holders, "pending": PENDING, "now": now}).one()
    return {kind: count for kind, count in zip(("phone", "email", "ip"), counts)
            if kind in holders}


def _lock_key(kind, value):
    digest = hashlib.blake2b(f"hold:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- request ids (Idempotency-Key) -----------------------------------------------------------

_CLAIM_REQUEST = text(
    "INSERT INTO idempotency_keys AS k (operation, key, request_hash, result, token_salt, "
    "expires_at) VALUES (:operation, :key, :request_hash, CAST(:result AS jsonb), :salt, "
    ":expires_at) ON CONFLICT (operation, key) DO UPDATE SET "
    "request_hash = excluded.request_hash, result = excluded.result, "
    "token_salt = excluded.token_salt, expires_at = excluded.expires_at "
    "WHERE k.expires_at <= :now RETURNING key")
_EARLIER_REQUEST = text(
    "SELECT request_hash, result, token_salt FROM idempotency_keys "
    "WHERE operation = :operation AND key = :key")
_REMEMBER_RESULT = text(
    "UPDATE idempotency_keys SET result = CAST(:result AS jsonb) "
    "WHERE operation = :operation AND key = :key")
_FORGET_REQUESTS = text(
    "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
    "WHERE expires_at <= :now LIMIT :n))")


def claim_request(session, operation, key, request_hash, salt, expires_at, now, result=None):
    """Take a request id for this transaction. Returns None when it is ours (new, or its
    earlier use is forgotten), else the earlier request's (request_hash, result, token_salt).
    A concurrent first use of the same id makes this wait for its transaction's end."""
    params = {"operation": operation, "key": key, "request_hash": request_hash,
              "result": json.dumps(result or {}), "salt": salt, "expires_at": expires_at,
              "now": now}
    if session.execute(_CLAIM_REQUEST, params).first() is not None:
        return None
    return session.execute(_EARLIER_REQUEST, params).one()


def remember_result(session, operation, key, result):
    session.execute(_REMEMBER_RESULT, {"operation": operation, "key": key,
                                       "result": json.dumps(result)})


def forget_requests(session, now, limit):
    return session.execute(_FORGET_REQUESTS, {"now": now, "n": limit}).rowcount


# --- the halls' calendar feeds --------------------------------------------------------------

FEED_STATUSES = ("pending_payment", "confirmed", "completed", "cancelled")


def _feed_query(columns, hall_id, start_from, start_before):
    return select(*columns).where(BookingRow.hall_id == hall_id,
                                  BookingRow.status.in_(FEED_STATUSES),
                                  BookingRow.start_at >= start_from,
                                  BookingRow.start_at < start_before)


def feed_state(session, hall_id, start_from, start_before):
    """(how many bookings, their latest updated_at) in a hall's feed: its version."""
    return session.execute(_feed_query((func.count(), func.max(BookingRow.updated_at)),
                                       hall_id, start_from, start_before)).one()


def feed_booking_rows(session, hall_id, start_from, start_before):
    return session.scalars(_feed_query((BookingRow,), hall_id, start_from, start_before)
                           .order_by(BookingRow.start_at, BookingRow.id)).all()


# --- closures: blocks and special days ------------------------------------------------------

def lock_hall_time(session, hall_id):
    """Until this transaction ends, no booking takes a range of the hall (they take the same
    lock shared in the trigger of 0005_closures), so the bookings read next are all there are."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k, :h)"),
                    {"k": HALL_TIME_LOCK, "h": hall_id})


def bookings_in(session, hall_id, start, end, now):
    """Active bookings (not run-out holds) of the hall whose busy range meets [start, end)."""
    return session.scalars(
        select(BookingRow).where(
            BookingRow.hall_id == hall_id, BookingRow.status.in_(ACTIVE_STATUSES),
            or_(BookingRow.status != PENDING, BookingRow.hold_expires_at > now),
            BookingRow.busy.op("&&")(DateTimeTZRange(start, end)))
        .order_by(BookingRow.start_at)).all()


def insert_block(session, block_id, hall_id, start, end, reason, created_by):
    row = BlockRow(id=block_id, hall_id=hall_id, period=DateTimeTZRange(start, end),
                   reason=reason, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def load_block_row(session, block_id):
    row = row_by_id(session, BlockRow, block_id)
    if row is None:
        raise BlockNotFound(f"There is no block {block_id}.", {"block_id": block_id})
    return row


def block_rows(session, start, end, hall_id=None):
    """Blocks meeting [start, end), by start."""
    query = select(BlockRow).where(BlockRow.period.op("&&")(DateTimeTZRange(start, end)))
    if hall_id is not None:
        query = query.where(BlockRow.hall_id == hall_id)
    return session.scalars(query.order_by(func.lower(BlockRow.period), BlockRow.hall_id)).all()


def closures(session, hall_id, start, end):
    """(start, end) of the hall's blocks meeting [start, end)."""
    return [(row.period.lower, row.period.upper)
            for row in block_rows(session, start, end, hall_id)]


def _special_days_of_hall(session, hall_id):
    """{date: special_hours} of every special day of the hall: its own, else the studio's."""
    rows = session.scalars(select(SpecialDayRow).where(
        or_(SpecialDayRow.hall_id == hall_id, SpecialDayRow.hall_id.is_(None)))
        .order_by(SpecialDayRow.hall_id.is_(None).desc())).all()   # the studio's first
    return {row.day: special_day_minutes(row) for row in rows}


def special_day_minutes(row):
    return None if row.opens is None else special_hours([row.opens, row.closes])


def special_day_rows(session, date_from, date_to):
    return session.scalars(select(SpecialDayRow).where(
        SpecialDayRow.day.between(date_from, date_to))
        .order_by(SpecialDayRow.day, SpecialDayRow.hall_id.nulls_first())).all()


def find_special_day(session, day, hall_id):
    return session.scalars(select(SpecialDayRow).where(
        SpecialDayRow.day == day,
        SpecialDayRow.hall_id == hall_id if hall_id is not None
        else SpecialDayRow.hall_id.is_(None))).first()
