"""The booking service's use cases. Each runs inside the caller's unit of work (one session,
one transaction) and records its events in the outbox of that same transaction."""
import hashlib
import hmac
import secrets
import uuid
from datetime import date, datetime, timedelta

from contracts.booking import BookingListQuerySchema, ConfirmBookingSchema, CreateBookingSchema
from contracts.errors.base import AccessDenied, InvalidRequest
from contracts.errors.booking import BookingRuleViolation
from services.booking import store
from services.booking.domain import Booking, BookingStatus, OpeningHours, Tariff, free_slots, quote
from services.booking.models import HallRow
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import record_event

SOURCE = "booking"


# --- views: what callers get back ---------------------------------------------------------

def hall_view(row):
    return {"id": row.id, "name": row.name, "description": row.description,
            "capacity": row.capacity, "hourly_price": row.tariff["hourly_price"]}


def hall_detail_view(row):
    return {**hall_view(row), "buffer_minutes": row.buffer_minutes, "active": row.active,
            "opening_hours": row.opening_hours, "tariff": row.tariff}


def booking_view(row, hall_name, tz):
    return {
        "id": str(row.id), "hall_id": row.hall_id, "hall_name": hall_name,
        "start": iso(row.start_at, tz), "end": iso(row.end_at, tz), "status": row.status,
        "price_total": row.price_total, "prepayment_amount": row.prepayment_amount,
        "amount_paid": row.amount_paid, "remaining_due": row.price_total - row.amount_paid,
        "currency": row.currency, "hold_expires_at": iso(row.hold_expires_at, tz),
        "customer": row.customer, "comment": row.comment, "refund_due": row.refund_due,
        "created_at": iso(row.created_at, tz),
    }


def event_payload(view):
    """The public payload of every booking.* event (contracts.booking.BookingEventPayloadSchema)."""
    payload = {key: view[key] for key in (
        "hall_id", "hall_name", "start", "end", "status", "price_total", "prepayment_amount",
        "amount_paid", "currency", "customer", "hold_expires_at")}
    payload["booking_id"] = view["id"]
    if view["refund_due"] is not None:
        payload["refund_due"] = view["refund_due"]
    return payload


def _record(session, event_type, view):
    record_event(session, SOURCE, event_type, event_payload(view))


# --- input -----------------------------------------------------------------------------------

def _aware(moment, rules):
    """A time without offset is the studio's local time."""
    return moment.replace(tzinfo=rules.tz) if moment.tzinfo is None else moment


def _parse_moment(value, field, rules):
    if isinstance(value, datetime):
        return _aware(value, rules)
    try:
        return _aware(datetime.fromisoformat(str(value)), rules)
    except ValueError:
        raise BookingRuleViolation("Not a date and time.", {field: ["not an ISO-8601 datetime"]})


def _parse_date(value, field):
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BookingRuleViolation("Not a date.", {field: ["not a YYYY-MM-DD date"]})


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def check_access(row, access_token):
    """None means a trusted caller (an operator, or a service); else the token must match."""
    if access_token is not None and not hmac.compare_digest(
            token_hash(str(access_token)), row.access_token_hash):
        raise AccessDenied("This token does not open this booking.",
                           {"booking_id": str(row.id)})


# --- halls -----------------------------------------------------------------------------------

def list_halls(session, include_inactive=False):
    return [hall_view(row) for row in store.list_hall_rows(session, include_inactive)]


def save_hall(session, data, hall_id=None):
    """Create a hall, or update the given fields of one; validates hours and tariff."""
    row = store.load_hall_row(session, hall_id) if hall_id is not None else \
        HallRow(description="", buffer_minutes=0, active=True)  # the columns' defaults, now
    try:
        for name in ("name", "description", "capacity", "buffer_minutes", "active"):
            if name in data:
                setattr(row, name, data[name])
        if "opening_hours" in data:
            hours = data["opening_hours"]
            row.opening_hours = OpeningHours.parse(hours).to_dict() if hours else None
        if "tariff" in data:
            row.tariff = Tariff.from_dict(data["tariff"]).to_dict()
        if not row.name or row.capacity is None or row.tariff is None:
            raise ValueError("a hall needs a name, a capacity and a tariff")
        if row.capacity < 1 or (row.buffer_minutes or 0) < 0:
            raise ValueError("capacity must be at least 1 and buffer_minutes not negative")
        store.hall_from_row(row)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"The hall is not valid: {exc}", {"hall": [str(exc)]})
    session.add(row)
    session.flush()
    return hall_detail_view(row)


# --- the calendar ------------------------------------------------------------------------------

def availability(session, rules, hall_id, start_date, end_date, now):
    start_date = _parse_date(start_date, "start_date")
    end_date = _parse_date(end_date, "end_date")
    hall = store.load_hall(session, hall_id)
    tz = rules.tz
    span_start = datetime.combine(start_date, datetime.min.time(), tz) - timedelta(days=1)
    span_end = datetime.combine(end_date, datetime.min.time(), tz) + timedelta(days=2)
    bookings = store.active_ranges(session, hall_id, span_start, span_end)
    days = free_slots(hall, rules, bookings, start_date, end_date, now)
    return {"hall_id": hall.id, "timezone": rules.timezone, "slot_minutes": rules.slot_minutes,
            "days": [{"date": day.date.isoformat(), "slots": _slot_views(day.slots)}
                     for day in days]}


def _slot_views(slots):
    """Slots as the API shows them. A slot that starts where the last one ended reuses its
    text: isoformat of an aware datetime is most of the cost of a month's answer."""
    views, last_end, last_text = [], None, None
    for slot in slots:
        start = last_text if slot.start is last_end else slot.start.isoformat()
        last_end, last_text = slot.end, slot.end.isoformat()
        views.append({"start": start, "end": last_text, "price": slot.price})
    return views


def price_quote(session, rules, hall_id, start, end):
    hall = store.load_hall(session, hall_id)
    start, end = _parse_moment(start, "start", rules), _parse_moment(end, "end", rules)
    if end <= start:
        raise BookingRuleViolation("The booking must end after it starts.",
                                   {"end": ["must be after start"]})
    result = quote(hall, rules, start, end)
    return {"price_total": result.price_total, "prepayment_amount": result.prepayment_amount,
            "currency": result.currency}


# --- bookings -----------------------------------------------------------------------------------

def create_booking(session, rules, data, now):
    data = load(CreateBookingSchema, data)
    hall_row = store.load_hall_row(session, data["hall_id"])
    hall = store.hall_from_row(hall_row)
    start, end = _aware(data["start"], rules), _aware(data["end"], rules)
    customer = {**data["customer"], "name": data["customer"]["name"].strip()}
    booking = Booking.place(str(uuid.uuid4()), hall, rules, start, end, now, customer)
    access_token = secrets.token_urlsafe(32)
    row = store.insert_booking(session, booking, hall, token_hash(access_token),
                               data.get("comment"))
    row.created_at = now
    view = booking_view(row, hall.name, rules.tz)
    _record(session, "booking.created", view)
    return {**view, "access_token": access_token}


def _hall_name(session, hall_id):
    return store.load_hall_row(session, hall_id).name


def get_booking(session, rules, booking_id, access_token=None):
    row = store.load_booking_row(session, booking_id)
    check_access(row, access_token)
    return booking_view(row, _hall_name(session, row.hall_id), rules.tz)


def list_bookings(session, rules, filters):
    query = load(BookingListQuerySchema, filters)
    tz = rules.tz
    start_from = (datetime.combine(query["date_from"], datetime.min.time(), tz)
                  if "date_from" in query else None)
    start_before = (datetime.combine(query["date_to"] + timedelta(days=1),
                                     datetime.min.time(), tz) if "date_to" in query else None)
    rows, next_cursor = store.list_booking_rows(
        session, query.get("hall_id"), query.get("status"), start_from, start_before,
        query.get("cursor"), query["limit"])
    names = {h.id: h.name for h in store.list_hall_rows(session, include_inactive=True)}
    return {"items": [booking_view(row, names.get(row.hall_id), tz) for row in rows],
            "next_cursor": next_cursor}


def confirm_booking(session, rules, booking_id, payment_id, amount, now):
    """Apply a payment; idempotent per payment_id. Emits booking.confirmed when the booking
    becomes confirmed, booking.payment_recorded for a later payment (the remainder).

    The answer is the booking with `overpaid`: what this payment brought beyond the price
    (0 mostly), for the caller to refund; a repeat answers the same."""
    row = store.load_booking_row(session, booking_id, for_update=True)
    hall_row = store.load_hall_row(session, row.hall_id)
    booking = store.booking_from_row(row)
    if payment_id in booking.payment_ids:
        return {**booking_view(row, hall_row.name, rules.tz),
                "overpaid": booking.overpaid.get(payment_id, 0)}
    was = booking.status
    if booking.status == BookingStatus.EXPIRED:
        # The money came after the hold ran out: take the slot back if nobody else has.
        store.retake_slot(session, row, store.hall_from_row(hall_row))
        booking.status = BookingStatus.PENDING_PAYMENT
    booking.confirm(payment_id, amount, now)
    store.apply_booking(row, booking, hold_expires_at=None)
    session.flush()
    view = booking_view(row, hall_row.name, rules.tz)
    _record(session, "booking.confirmed" if was != BookingStatus.CONFIRMED
            else "booking.payment_recorded", {**view, "refund_due": None})
    return {**view, "overpaid": booking.overpaid.get(payment_id, 0)}


def confirm_at_desk(session, rules, booking_id, data, now):
    """An operator records money taken at the desk (default: everything still due)."""
    data = load(ConfirmBookingSchema, data)
    row = store.load_booking_row(session, booking_id)
    payment_id = data.get("payment_id") or f"desk:{uuid.uuid4()}"
    due = row.price_total - row.amount_paid
    amount = data.get("amount", due)
    if payment_id not in row.payment_ids:  # a repeat changes nothing and answers the same
        if due <= 0:
            raise BookingRuleViolation("Nothing is due on this booking.",
                                       {"amount": ["the booking is paid in full"]})
        if amount > due:  # at the desk the change is given back, not recorded
            raise BookingRuleViolation(f"Only {due} kopecks are due on this booking.",
                                       {"amount": [f"must be at most {due}"]})
    view = confirm_booking(session, rules, booking_id, payment_id, amount, now)
    view.pop("overpaid")  # never more than due at the desk
    return view


def cancel_booking(session, rules, booking_id, by, now, access_token=None, reason=None):
    """Cancel; booking.cancelled carries refund_due under the cancellation policy."""
    if by not in ("customer", "operator"):
        raise BookingRuleViolation("Unknown canceller.", {"by": ["customer or operator"]})
    row = store.load_booking_row(session, booking_id, for_update=True)
    check_access(row, access_token)
    booking = store.booking_from_row(row)
    refund_due = booking.cancel(by, now, full_refund_hours=rules.full_refund_hours)
    store.apply_booking(row, booking, refund_due=refund_due, cancelled_by=by,
                        hold_expires_at=None)
    session.flush()
    view = booking_view(row, _hall_name(session, row.hall_id), rules.tz)
    _record(session, "booking.cancelled", view)
    return view


def expire_holds(session, rules, now, limit=100):
    """Release unpaid holds past hold_expires_at; returns how many expired."""
    rows = store.due_holds(session, now, limit)
    for row in rows:
        booking = store.booking_from_row(row)
        booking.expire(now)
        store.apply_booking(row, booking)
    session.flush()
    for row in rows:
        _record(session, "booking.expired",
                booking_view(row, _hall_name(session, row.hall_id), rules.tz))
    return len(rows)


def complete_finished(session, rules, now, limit=100):
    """Mark confirmed bookings that have ended as completed (booking.completed)."""
    rows = store.finished_bookings(session, now, limit)
    for row in rows:
        booking = store.booking_from_row(row)
        booking.complete(now)
        store.apply_booking(row, booking)
    session.flush()
    for row in rows:
        _record(session, "booking.completed",
                booking_view(row, _hall_name(session, row.hall_id), rules.tz))
    return len(rows)

