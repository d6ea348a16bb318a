"""The booking service's use cases. Each runs inside the caller's unit of work (one session,
one transaction) and records its events in the outbox of that same transaction."""
import base64
import functools
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func

from contracts.booking import BookingListQuerySchema, ConfirmBookingSchema, CreateBookingSchema, RescheduleBookingSchema
from contracts.errors.base import AccessDenied, IdempotencyKeyReused, InvalidRequest
from contracts.errors.booking import BookingRuleViolation
from services.booking import store
from services.booking.domain import (
    Booking,
    BookingStatus,
    OpeningHours,
    Tariff,
    check_booking_request,
    check_date_range,
    check_unpaid_holds,
    free_slots,
    quote,
)
from services.booking.models import HallRow
from services.booking.price_preview import price_week
from services.common.booking_links import is_link_token
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import event_params, record_event, record_events

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
        "created_at": iso(row.created_at, tz), "updated_at": iso(row.updated_at, tz),
        "revision": row.revision,
    }


def event_payload(view):
    """The public payload of every booking.* event (contracts.booking.BookingEventPayloadSchema)."""
    payload = {key: view[key] for key in (
        "hall_id", "hall_name", "start", "end", "status", "price_total", "prepayment_amount",
        "amount_paid", "currency", "customer", "hold_expires_at", "revision")}
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


# --- request ids: a creating call repeated answers what it answered first ---------------------

class Claim(NamedTuple):
    first: bool         # this is the request id's first use: do the work
    result: dict        # what the first use recorded (ids of what it created)
    token_salt: str
    key_hash: str       # how the request id is stored: never in clear (see request_token)


def claim_request(session, rules, operation, request_id, request, now, result=None):
    """Take `request_id` for `operation` in the caller's transaction. A repeat with the same
    request gets the first use's Claim (first=False); with another request,
    IdempotencyKeyReused. Ids are forgotten after rules.idempotency_key_hours."""
    key = str(request_id)
    if not 0 < len(key) <= 255:
        raise InvalidRequest("The Idempotency-Key is not usable.",
                             {"Idempotency-Key": ["1 to 255 characters"]})
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str,
                                            ensure_ascii=False).encode()).hexdigest()
    key_hash = token_hash(key)
    salt = secrets.token_urlsafe(32)
    earlier = store.claim_request(
        session, operation, key_hash, fingerprint, salt,
        now + timedelta(hours=rules.idempotency_key_hours), now, result)
    if earlier is None:
        return Claim(True, result or {}, salt, key_hash)
    if not hmac.compare_digest(earlier.request_hash, fingerprint):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request.",
            {"Idempotency-Key": key, "operation": operation})
    return Claim(False, earlier.result, earlier.token_salt, key_hash)


def request_token(claim, request_id):
    """The access token of a booking made under a request id: derived from the id and the
    claim's random salt, so a repeat can answer it again. The database keeps the token's
    hash, the salt and the id's hash: nothing there opens the booking without the id the
    client holds; the salt is forgotten with the id."""
    digest = hmac.new(claim.token_salt.encode(), str(request_id).encode(), "sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_access(row, access_token, link_secret=None):
    """None means a trusted caller (an operator, or a service); else the token must be the
    booking's own or the link token its messages carry."""
    if access_token is None:
        return
    if not hmac.compare_digest(token_hash(str(access_token)), row.access_token_hash) and \
            not (link_secret and is_link_token(link_secret, row.id, access_token)):
        raise AccessDenied("This token does not open this booking.",
                           {"booking_id": str(row.id)})


# --- halls -----------------------------------------------------------------------------------

def list_halls(session, include_inactive=False, rules=None):
    """Halls as customers see them; with `rules`, each with the opening hours it keeps
    (its own or the studio's), so a calendar can show closed days."""
    views = []
    for row in store.list_hall_rows(session, include_inactive):
        view = {**hall_view(row), "buffer_minutes": row.buffer_minutes,
                "tariff_rules": row.tariff.get("rules", []),
                "currency": row.tariff.get("currency", "RUB")}
        if rules is not None:
            view["opening_hours"] = store.hall_from_row(row).hours(rules).to_dict()
        views.append(view)
    return views


def create_hall(session, rules, data, now, request_id=None):
    """A new hall; with a request_id a repeat answers the hall made first."""
    if request_id is not None:
        claim = claim_request(session, rules, "create_hall", request_id, data, now)
        if not claim.first:
            return hall_detail_view(store.load_hall_row(session, claim.result["hall_id"]))
    view = save_hall(session, data)
    if request_id is not None:
        store.remember_result(session, "create_hall", claim.key_hash, {"hall_id": view["id"]})
    return view


def price_preview(rules, tariff, opening_hours=None):
    try:
        hours = (OpeningHours.parse(opening_hours, fallback=rules.opening_hours)
                 if opening_hours else rules.opening_hours)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"The opening hours are not valid: {exc}",
                             {"opening_hours": [str(exc)]})
    try:
        return price_week(Tariff.from_dict(tariff), hours, rules.slot_minutes)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"The tariff is not valid: {exc}", {"tariff": [str(exc)]})


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
    # Every booking process hears of the change or compares this stamp (store.halls).
    row.updated_at = func.clock_timestamp()
    store.save_hall_row(session, row)
    store.halls.changed(row.id)
    return hall_detail_view(row)


# --- the calendar ------------------------------------------------------------------------------

def availability(session, rules, hall_id, start_date, end_date, now):
    start_date = _parse_date(start_date, "start_date")
    end_date = _parse_date(end_date, "end_date")
    check_date_range(rules, start_date, end_date)     # before a range is asked of the database
    hall, special_days = store.load_hall_and_special_days(session, hall_id)
    tz = rules.tz
    span_start = datetime.combine(start_date, datetime.min.time(), tz) - timedelta(days=1)
    span_end = datetime.combine(end_date, datetime.min.time(), tz) + timedelta(days=2)
    bookings = store.active_ranges(session, hall.id, span_start, span_end, now)
    days = free_slots(hall, rules, bookings, start_date, end_date, now,
                      closures=store.closures(session, hall.id, span_start, span_end),
                      special_days=special_days)
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


def price_quote(session, rules, hall_id, start, end, now=None):
    """The price of [start, end); with `now`, a time the rules refuse (too short, too long,
    closed, within the notice) is refused here too, before anything is created."""
    hall, special_days = store.load_hall_and_special_days(session, hall_id)
    start, end = _parse_moment(start, "start", rules), _parse_moment(end, "end", rules)
    if end <= start:
        raise BookingRuleViolation("The booking must end after it starts.",
                                   {"end": ["must be after start"]})
    if now is not None:
        check_booking_request(hall, rules, start, end, now,
                              special_days)
    result = quote(hall, rules, start, end)
    return {"price_total": result.price_total, "prepayment_amount": result.prepayment_amount,
            "currency": result.currency}


# --- bookings -----------------------------------------------------------------------------------

def create_booking(session, rules, data, now, request_id=None, client_ip=None,
                   held_until_start=False):
    """Hold a slot. A hold whose time has run out in the way is expired here, in this
    transaction (booking.expired), as the timer would. With a request_id a repeat answers
    the first booking, access token included, and creates nothing. `held_until_start`: an
    operator's booking paid at the desk, held until it starts."""
    request = data
    data = load(CreateBookingSchema, data)
    hall, special_days = store.load_hall_and_special_days(session, data["hall_id"])
    booking_id = str(uuid.uuid4())
    if request_id is not None:
        claim = claim_request(session, rules, "create_booking", request_id, request, now,
                              {"booking_id": booking_id})
        access_token = request_token(claim, request_id)
        if not claim.first:
            row = store.load_booking_row(session, claim.result["booking_id"])
            return {**booking_view(row, hall.name, rules.tz), "access_token": access_token}
    else:
        access_token = secrets.token_urlsafe(32)
    start, end = _aware(data["start"], rules), _aware(data["end"], rules)
    customer = {**data["customer"], "name": data["customer"]["name"].strip()}
    booking = Booking.place(booking_id, hall, rules, start, end, now, customer,
                            special_days, held_until_start)
    holders = {kind: key for kind, key in store.holder_keys(customer, client_ip).items()
               if key and rules.hold_limits[kind]}
    if holders:
        check_unpaid_holds(store.count_unpaid_holds(session, holders, now), rules)
    new_row = store.new_booking_row(booking, hall, token_hash(access_token),
                                    data.get("comment"), client_ip, now)
    view = booking_view(new_row, hall.name, rules.tz)   # updated_at: the database's, below
    _, created = event_params(SOURCE, "booking.created", event_payload(view))
    insert = functools.partial(store.insert_booking, session, new_row, hall, created)
    # When nothing before it opened a transaction (no Idempotency-Key claimed, no holds
    # counted), the insert with its event is the whole change: it commits on its own, with no
    # BEGIN and no COMMIT. Nothing is written after it.
    updated_at = insert(if_free=True, on_its_own=True)
    if updated_at is None:
        # Something holds part of the slot: a hold whose time has run out is expired here
        # (before the new booking's event, as the timer would have), anything else is SlotTaken.
        expire_holds_in_the_way(session, rules, hall, booking.start, booking.end, now)
        updated_at = insert()
    return {**view, "updated_at": iso(updated_at, rules.tz), "access_token": access_token}


def expire_holds_in_the_way(session, rules, hall, start, end, now):
    """Expire the run-out holds that still block [start, end) of the hall."""
    _expire(session, rules, store.run_out_holds_in_the_way(session, hall, start, end, now),
            now)


def _hall_name(session, hall_id):
    return store.load_hall(session, hall_id).name


def get_booking(session, rules, booking_id, access_token=None, link_secret=None):
    """The booking, with the money taken for it at the desk (the providers' payments are
    payments' to tell)."""
    row = store.load_booking_row(session, booking_id)
    check_access(row, access_token, link_secret)
    # money taken at the desk is among the booking's payments: none at all, nothing to read
    desk = [{"payment_id": desk_row.payment_id, "amount": desk_row.amount,
             "taken_at": iso(desk_row.taken_at, rules.tz)}
            for desk_row in (store.desk_payments_of(session, row.id) if row.payment_ids else ())]
    return {**booking_view(row, _hall_name(session, row.hall_id), rules.tz),
            "desk_payments": desk}


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
    hall = store.load_hall(session, row.hall_id)
    booking = store.booking_from_row(row)
    if payment_id in booking.payment_ids:
        return {**booking_view(row, hall.name, rules.tz),
                "overpaid": booking.overpaid.get(payment_id, 0)}
    if booking.status == BookingStatus.EXPIRED:
        # The money came after the hold ran out: take the slot back if nobody else has.
        expire_holds_in_the_way(session, rules, hall, booking.start, booking.end, now)
        store.retake_slot(session, row, booking, hall)
    transition = booking.confirm(payment_id, amount, now)
    store.apply_booking(row, booking, hold_expires_at=None)
    session.flush()
    view = booking_view(row, hall.name, rules.tz)
    _record(session, transition.event, {**view, "refund_due": None})
    return {**view, "overpaid": booking.overpaid.get(payment_id, 0)}


def confirm_at_desk(session, rules, booking_id, data, now, request_id=None):
    """An operator records money taken at the desk (default: everything still due). A
    payment_id, or a request_id, makes a repeat change nothing and answer the same."""
    data = load(ConfirmBookingSchema, data)
    payment_id = data.get("payment_id")
    if payment_id is None and request_id is not None:
        claim = claim_request(session, rules, "confirm_at_desk", request_id,
                              {"booking_id": str(booking_id), **data}, now,
                              {"payment_id": f"desk:{uuid.uuid4()}"})
        payment_id = claim.result["payment_id"]
    row = store.load_booking_row(session, booking_id)
    payment_id = payment_id or f"desk:{uuid.uuid4()}"
    due = row.price_total - row.amount_paid
    amount = data.get("amount", due)
    taken_now = payment_id not in row.payment_ids  # a repeat changes nothing, answers the same
    if taken_now:
        if due <= 0:
            raise BookingRuleViolation("Nothing is due on this booking.",
                                       {"amount": ["the booking is paid in full"]})
        if amount > due:  # at the desk the change is given back, not recorded
            raise BookingRuleViolation(f"Only {due} kopecks are due on this booking.",
                                       {"amount": [f"must be at most {due}"]})
    view = confirm_booking(session, rules, booking_id, payment_id, amount, now)
    view.pop("overpaid")  # never more than due at the desk
    if taken_now:
        store.record_desk_payment(session, payment_id, booking_id, amount, now)
    return view


def cancel_booking(session, rules, booking_id, by, now, access_token=None, reason=None,
                   link_secret=None):
    """Cancel; booking.cancelled carries refund_due under the cancellation policy."""
    if by not in ("customer", "operator"):
        raise BookingRuleViolation("Unknown canceller.", {"by": ["customer or operator"]})
    row = store.load_booking_row(session, booking_id, for_update=True)
    check_access(row, access_token, link_secret)
    booking = store.booking_from_row(row)
    transition = booking.cancel(by, now, full_refund_hours=rules.full_refund_hours)
    store.apply_booking(row, booking, refund_due=transition.refund_due, cancelled_by=by,
                        hold_expires_at=None)
    session.flush()
    view = booking_view(row, _hall_name(session, row.hall_id), rules.tz)
    _record(session, transition.event, view)
    return view


def reschedule_booking(session, rules, booking_id, data, by, now, access_token=None,
                       request_id=None, link_secret=None):
    """Move a booking to another time or hall (Booking.reschedule says who may, when and at
    what price) in one transaction: the new range is taken and the old one released by one
    UPDATE under the exclusion constraint (SlotTaken: nothing changed). Run-out holds in the
    way are expired first, as a new booking does. Emits booking.rescheduled with the previous
    time and refund_due. With a request_id a repeat answers the first move and moves nothing."""
    if by not in ("customer", "operator"):
        raise BookingRuleViolation("Unknown mover.", {"by": ["customer or operator"]})
    request = {"booking_id": str(booking_id), "by": by, **data}
    data = load(RescheduleBookingSchema, data)
    row = store.load_booking_row(session, booking_id, for_update=True)
    check_access(row, access_token, link_secret)
    if request_id is not None:
        claim = claim_request(session, rules, "reschedule_booking", request_id, request, now)
        if not claim.first:
            return claim.result["answer"]
    old_hall = store.load_hall(session, row.hall_id)
    hall, special_days = store.load_hall_and_special_days(session,
                                                          data.get("hall_id", row.hall_id))
    tz = rules.tz
    previous = {"hall_id": row.hall_id, "hall_name": old_hall.name,
                "start": iso(row.start_at, tz), "end": iso(row.end_at, tz),
                "price_total": row.price_total}
    booking = store.booking_from_row(row)
    start = _aware(data["start"], rules)
    transition = booking.reschedule(hall, rules, start, _aware(data["end"], rules), now, by=by,
                                    keep_price=data["keep_price"],
                                    special_days=special_days)
    expire_holds_in_the_way(session, rules, hall, booking.start, booking.end, now)
    store.move_booking(session, row, booking, hall)
    view = {**booking_view(row, hall.name, tz), "refund_due": transition.refund_due}
    record_event(session, SOURCE, transition.event, {
        **event_payload(view), "previous": previous, "rescheduled_by": by,
        "reason": data.get("reason")})
    if request_id is not None:
        store.remember_result(session, "reschedule_booking", claim.key_hash, {"answer": view})
    return view


# --- the timers: each drains what is due in batches of one transaction each -----------------

def expire_holds(session, rules, now, limit=500):
    """Release one batch of unpaid holds past hold_expires_at; returns how many expired."""
    return _expire(session, rules, store.due_holds(session, now, limit), now)


def _expire(session, rules, rows, now):
    return _move(session, rules, rows, lambda booking: booking.expire(now))


def complete_finished(session, rules, now, limit=500):
    """Mark one batch of confirmed bookings that have ended as completed (booking.completed)."""
    return _move(session, rules, store.finished_bookings(session, now, limit),
                 lambda booking: booking.complete(now))


def _move(session, rules, rows, move):
    """Apply the same domain move to locked rows: one UPDATE, an event each."""
    if not rows:
        return 0
    transitions = [move(store.booking_from_row(row)) for row in rows]
    store.set_status(session, [row.id for row in rows], transitions[0].status)
    names = {}
    for row in rows:
        if row.hall_id not in names:
            names[row.hall_id] = _hall_name(session, row.hall_id)
    record_events(session, SOURCE, [
        (transition.event, event_payload({**booking_view(row, names[row.hall_id], rules.tz),
                                          "status": transition.status}))
        for row, transition in zip(rows, transitions)])
    return len(rows)


def drain(sessions, step, rules, now, batch):
    """Run `step` (expire_holds, complete_finished) in a transaction each until a batch
    comes back short: the timer keeps up with the database, not with a fixed rate."""
    total = 0
    while True:
        with sessions() as session:
            done = step(session, rules, now, batch)
        total += done
        if done < batch:
            return total


def forget_request_ids(session, rules, now, limit=1000):
    """Forget one batch of request ids older than their lifetime."""
    return store.forget_requests(session, now, limit)
