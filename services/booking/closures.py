"""Closures of the studio's time: blocks (no booking may take any of their time) and special
days (hours of their own for a date). Use cases in the caller's transaction; a block and its
event (hall.blocked, hall.unblocked) commit together."""
import uuid
from datetime import datetime, timedelta

from contracts.closures import NewBlockSchema, SpecialDayEditSchema
from contracts.errors.base import InvalidRequest
from contracts.errors.booking import BlockHitsBookings, BookingRuleViolation
from services.booking import store
from services.booking.domain import check_date_range, day_minutes, special_hours
from services.booking.models import SpecialDayRow
from services.booking.operations import claim_request
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import record_event

SOURCE = "booking"


def block_view(row, hall_name, tz):
    return {"id": str(row.id), "hall_id": row.hall_id, "hall_name": hall_name,
            "start": iso(row.period.lower, tz), "end": iso(row.period.upper, tz),
            "reason": row.reason, "created_by": row.created_by,
            "created_at": iso(row.created_at, tz)}


def hit_view(row, tz):
    return {"id": str(row.id), "hall_id": row.hall_id, "start": iso(row.start_at, tz),
            "end": iso(row.end_at, tz), "status": row.status,
            "customer_name": (row.customer or {}).get("name", "")}


def _aware(moment, rules):
    return moment.replace(tzinfo=rules.tz) if moment.tzinfo is None else moment


def create_block(session, rules, data, now, created_by=None, request_id=None):
    """Close a hall (or, hall_id None, every hall) over [start, end). Active bookings there
    refuse it (BlockHitsBookings listing them) unless `force`; with force they stay, listed
    in the answer. Idempotent per request_id."""
    request = data
    data = load(NewBlockSchema, data)
    start, end = _aware(data["start"], rules), _aware(data["end"], rules)
    if end <= start:
        raise BookingRuleViolation("A block must end after it starts.",
                                   {"end": ["must be after start"]})
    if request_id is not None:
        claim = claim_request(session, rules, "create_block", request_id, request, now)
        if not claim.first:
            return claim.result["answer"]
    halls = ([store.load_hall_row(session, data["hall_id"])] if data["hall_id"] is not None
             else store.list_hall_rows(session, include_inactive=True))
    tz, hit = rules.tz, []
    for hall in sorted(halls, key=lambda h: h.id):      # one order of locks: no deadlock
        store.lock_hall_time(session, hall.id)
        hit += store.bookings_in(session, hall.id, start, end, now)
    hit_views = [hit_view(row, tz) for row in hit]
    if hit and not data["force"]:
        raise BlockHitsBookings(
            f"{len(hit)} active booking(s) fall in this time: move or cancel them, or close "
            "it anyway (force).", {"bookings": hit_views})
    blocks = []
    for hall in sorted(halls, key=lambda h: h.id):
        row = store.insert_block(session, str(uuid.uuid4()), hall.id, start, end,
                                 data["reason"], created_by)
        view = block_view(row, hall.name, tz)
        blocks.append(view)
        record_event(session, SOURCE, "hall.blocked", _event_payload(view, created_by))
    answer = {"blocks": blocks, "bookings_hit": hit_views}
    if request_id is not None:
        store.remember_result(session, "create_block", claim.key_hash, {"answer": answer})
    return answer


def _event_payload(view, by):
    return {"block_id": view["id"], "hall_id": view["hall_id"], "hall_name": view["hall_name"],
            "start": view["start"], "end": view["end"], "reason": view["reason"], "by": by}


def delete_block(session, rules, block_id, by=None):
    """Open the time again; emits hall.unblocked. Answers the block as it was."""
    row = store.load_block_row(session, block_id)
    view = block_view(row, store.load_hall(session, row.hall_id).name, rules.tz)
    session.delete(row)
    session.flush()
    record_event(session, SOURCE, "hall.unblocked", _event_payload(view, by))
    return view


def list_blocks(session, rules, date_from, date_to, hall_id=None):
    """Blocks meeting the local days date_from..date_to, by start."""
    start, end = _days_span(rules, date_from, date_to)
    names = {h.id: h.name for h in store.list_hall_rows(session, include_inactive=True)}
    return {"items": [block_view(row, names.get(row.hall_id, ""), rules.tz)
                      for row in store.block_rows(session, start, end, hall_id)]}


def _days_span(rules, date_from, date_to):
    check_date_range(rules, date_from, date_to, names=("date_from", "date_to"))
    return (datetime.combine(date_from, datetime.min.time(), rules.tz),
            datetime.combine(date_to + timedelta(days=1), datetime.min.time(), rules.tz))


# --- special days ---------------------------------------------------------------------------

def special_day_view(row, bookings_outside=None):
    view = {"day": row.day.isoformat(), "hall_id": row.hall_id,
            "hours": None if row.opens is None else [row.opens, row.closes], "note": row.note}
    if bookings_outside is not None:
        view["bookings_outside"] = bookings_outside
    return view


def set_special_day(session, rules, day, data, now):
    """Give a date hours of its own (a short day), or close it (hours None), for one hall or
    every hall; a hall's own wins over every hall's. The answer lists the active bookings of
    that day that now fall outside the hours (they stay: the operator's to move)."""
    data = load(SpecialDayEditSchema, data)
    try:
        minutes = special_hours(data["hours"], "hours")
    except ValueError as exc:
        raise InvalidRequest(f"The hours are not valid: {exc}", {"hours": [str(exc)]})
    if data["hall_id"] is not None:
        store.load_hall_row(session, data["hall_id"])
    row = store.find_special_day(session, day, data["hall_id"])
    if row is None:
        row = SpecialDayRow(day=day, hall_id=data["hall_id"])
        session.add(row)
    row.opens, row.closes = (None, None) if minutes is None else data["hours"]
    row.note = data["note"]
    session.flush()
    store.touch_halls(session, data["hall_id"])
    return special_day_view(row, _bookings_outside(session, rules, day, data["hall_id"], now))


def _bookings_outside(session, rules, day, hall_id, now):
    start, end = _days_span(rules, day, day)
    outside = []
    halls = ([store.load_hall_row(session, hall_id)] if hall_id is not None
             else store.list_hall_rows(session, include_inactive=True))
    for hall in halls:
        parsed, special_days = store.load_hall_and_special_days(session, hall.id)
        hours = day_minutes(parsed.hours(rules), day, special_days)
        for row in store.bookings_in(session, hall.id, start, end, now):
            local_start = row.start_at.astimezone(rules.tz)
            local_end = row.end_at.astimezone(rules.tz)
            opens_at = local_start.hour * 60 + local_start.minute
            closes_at = (local_end.hour * 60 + local_end.minute
                         if local_end.date() == day else 24 * 60)
            if hours is None or opens_at < hours[0] or closes_at > hours[1]:
                outside.append(hit_view(row, rules.tz))
    return outside


def delete_special_day(session, day, hall_id=None):
    """The date keeps the week's hours again. Answers the special day as it was."""
    row = store.find_special_day(session, day, hall_id)
    if row is None:
        raise InvalidRequest("That date has no hours of its own.",
                             {"day": [f"{day.isoformat()} is an ordinary day"]})
    view = special_day_view(row)
    session.delete(row)
    session.flush()
    store.touch_halls(session, hall_id)
    return view


def list_special_days(session, rules, date_from, date_to):
    _days_span(rules, date_from, date_to)
    return {"items": [special_day_view(row)
                      for row in store.special_day_rows(session, date_from, date_to)]}
