"""A hall's calendar feed: who may read it (a token the operator rotates; only its hash is
kept) and what it holds (held, confirmed and cancelled bookings from some days back to the
booking horizon). Its version changes whenever the feed's content would, so the gateway
answers 304 without asking for the bookings."""
import hashlib
import hmac
import secrets
from datetime import timedelta

from contracts.errors.base import AccessDenied
from services.booking import store
from services.booking.models import HallRow
from services.booking.operations import booking_view, token_hash


def rotate_feed_token(session, hall_id):
    """A new feed token for the hall (shown only here); the previous one stops working."""
    row = store.load_hall_row(session, hall_id)
    token = secrets.token_urlsafe(32)
    row.feed_token_hash = token_hash(token)
    session.flush()
    return {"hall_id": row.id, "feed_token": token}


def disable_feed(session, hall_id):
    row = store.load_hall_row(session, hall_id)
    row.feed_token_hash = None
    session.flush()
    return {"hall_id": row.id, "feed_token": None}


def _open_feed(session, hall_id, feed_token):
    """The hall, if the token is its feed token. An unknown hall looks like a wrong token."""
    row = session.get(HallRow, int(hall_id)) if str(hall_id).isdigit() else None
    if row is None or not row.feed_token_hash or not hmac.compare_digest(
            token_hash(str(feed_token)), row.feed_token_hash):
        raise AccessDenied("This token does not open this calendar feed.")
    return row


def hall_feed(session, rules, hall_id, feed_token, now, days_back, known_version=None):
    """{hall_id, hall_name, version, last_modified, bookings}; bookings is None when the
    feed is still at `known_version`."""
    hall = _open_feed(session, hall_id, feed_token)
    start_from = now - timedelta(days=days_back)
    start_before = now + timedelta(days=rules.horizon_days + 1)
    count, last_modified = store.feed_state(session, hall.id, start_from, start_before)
    version = hashlib.sha256(
        f"{hall.name}|{days_back}|{count}|{last_modified}".encode()).hexdigest()[:24]
    answer = {"hall_id": hall.id, "hall_name": hall.name, "version": version,
              "last_modified": last_modified.isoformat() if last_modified else None,
              "bookings": None}
    if version != known_version:
        answer["bookings"] = [booking_view(row, hall.name, rules.tz) for row in
                              store.feed_booking_rows(session, hall.id, start_from,
                                                      start_before)]
    return answer
