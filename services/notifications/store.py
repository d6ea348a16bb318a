"""Queries of the notifications service: notifications and the copies of bookings."""
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, true, update
from sqlalchemy.dialects.postgresql import insert

from contracts.errors.notifications import InvalidNotification
from services.common.paging import decode_cursor, page
from services.notifications.models import BookingCopyRow, NotificationRow

# Couriers in every process of this service LISTEN here; a NOTIFY is delivered at commit.
WAKE_CHANNEL = "notifications_due"


# --- notifications ---------------------------------------------------------------------------

# Built once (and compiled once: SQLAlchemy 2.1 caches ON CONFLICT statements): recording
# notifications is the hot path of every event's messages. Core on the table: the courier and
# the event payloads read plain rows, no ORM objects are built. Each row recorded wakes the
# couriers from its RETURNING (PostgreSQL delivers one NOTIFY a transaction, at commit), so
# waking them takes no statement of its own.
_NOTIFICATIONS = NotificationRow.__table__
_ADD = (insert(_NOTIFICATIONS)
        .on_conflict_do_nothing(constraint="notifications_once_per_event")
        .returning(*_NOTIFICATIONS.c, func.pg_notify(WAKE_CHANNEL, "").label("woken")))


def add_notifications(session, now, notifications):
    """Record pending notifications in one statement, each once per (event_id, channel,
    recipient, template); returns the rows recorded now (one recorded before is left out),
    and the couriers look for them right after the commit.
    Each of `notifications`: event_id, booking_id, channel, recipient, audience, template,
    text, and maybe calendar and correlation_id."""
    if not notifications:
        return []
    return session.execute(_ADD, [
        {"calendar": None, "correlation_id": None, **fields, "status": "pending",
         "next_attempt_at": now, "created_at": now, "updated_at": now}
        for fields in notifications]).all()


def notifications_of_event(session, event_id):
    return session.scalars(select(NotificationRow).where(NotificationRow.event_id == event_id)
                           .order_by(NotificationRow.id)).all()


_DUE = (select(_NOTIFICATIONS.c.id)
        .where(_NOTIFICATIONS.c.status == "pending",
               _NOTIFICATIONS.c.next_attempt_at <= bindparam("now"))
        .order_by(_NOTIFICATIONS.c.next_attempt_at, _NOTIFICATIONS.c.id)
        .limit(bindparam("limit")).with_for_update(skip_locked=True))
_CLAIMED = (update(_NOTIFICATIONS)
            .where(_NOTIFICATIONS.c.id.in_(_DUE.scalar_subquery()))
            .values(attempts=_NOTIFICATIONS.c.attempts + 1,
                    next_attempt_at=bindparam("lease_until"), updated_at=bindparam("now"))
            .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.channel, _NOTIFICATIONS.c.recipient,
                       _NOTIFICATIONS.c.text, _NOTIFICATIONS.c.attempts,
                       _NOTIFICATIONS.c.calendar)
            .cte("claimed"))
# The statement reads the rows as they were before its own UPDATE: the ones it claims are left
# out, so the time is when the first notification this claim does not take falls due.
_NEXT_DUE = (select(func.min(_NOTIFICATIONS.c.next_attempt_at).label("next_due_at"))
             .where(_NOTIFICATIONS.c.status == "pending",
                    _NOTIFICATIONS.c.id.not_in(select(_CLAIMED.c.id)))
             .subquery("next_due"))
# One row per claim, or one row of NULLs when nothing was due; next_due_at on each.
_CLAIM = (select(*_CLAIMED.c, _NEXT_DUE.c.next_due_at)
          .select_from(_NEXT_DUE.outerjoin(_CLAIMED, true())))


def claim_due(session, now, limit, lease_seconds):
    """Take up to `limit` due pending notifications for delivery by this courier, counting
    the try, and see when the next one not taken falls due, in one statement: (claimed rows,
    that time or None). The claim lapses after `lease_seconds` (a courier that died
    mid-send), so no notification is held forever; SKIP LOCKED keeps couriers from waiting
    on each other."""
    rows = session.execute(_CLAIM, {"now": now, "limit": limit,
                                    "lease_until": now + timedelta(seconds=lease_seconds)}).all()
    return [row[:-1] for row in rows if row.id is not None], rows[0].next_due_at


def settle_claimed(session, notification_id, attempts, changes):
    """Apply `changes` to the notification as this courier claimed it, in one statement;
    the row after, or None if someone else has it now (its claim lapsed and was taken again)
    or it is no longer pending."""
    return session.execute(
        update(_NOTIFICATIONS)
        .where(_NOTIFICATIONS.c.id == notification_id, _NOTIFICATIONS.c.attempts == attempts,
               _NOTIFICATIONS.c.status == "pending")
        .values(**changes).returning(*_NOTIFICATIONS.c)).first()


def list_notification_rows(session, booking_id=None, status=None, channel=None, cursor=None,
                           limit=50):
    """Newest first, keyset-paged: returns (rows, next_cursor)."""
    query = select(NotificationRow).order_by(NotificationRow.id.desc())
    if booking_id is not None:
        query = query.where(NotificationRow.booking_id == booking_id)
    if status is not None:
        query = query.where(NotificationRow.status == status)
    if channel is not None:
        query = query.where(NotificationRow.channel == channel)
    if cursor:
        query = query.where(NotificationRow.id < decode_cursor(
            cursor, _notification_id, InvalidNotification))
    return page(session, query, limit, lambda row: (row.id,))


def _notification_id(value):
    if not isinstance(value, int):
        raise ValueError(value)
    return value


# --- copies of bookings -------------------------------------------------------------------------

def _save_copy_statement():
    statement = insert(BookingCopyRow.__table__)
    return statement.on_conflict_do_update(
        index_elements=[BookingCopyRow.booking_id],
        set_={**{name: statement.excluded[name] for name in
                 ("status", "start_at", "end_at", "payload", "event_at")},
              "updated_at": func.now()},
        where=BookingCopyRow.event_at <= statement.excluded.event_at)


_SAVE_COPY = _save_copy_statement()


def save_booking_copy(session, payload, event_at):
    """Keep the booking as this event tells it, unless a later event already told more."""
    session.execute(_SAVE_COPY, dict(
        booking_id=payload["booking_id"], status=payload["status"],
        start_at=datetime.fromisoformat(payload["start"]),
        end_at=datetime.fromisoformat(payload["end"]), payload=payload, event_at=event_at))


def load_booking_copy(session, booking_id):
    return session.get(BookingCopyRow, str(booking_id))


def due_reminders(session, remind_from, now, limit=100):
    """Confirmed bookings not yet reminded, starting after `now` and by `remind_from`,
    locked; another process running reminders skips them."""
    return session.scalars(
        select(BookingCopyRow).where(
            BookingCopyRow.status == "confirmed", BookingCopyRow.reminded_at.is_(None),
            BookingCopyRow.start_at > now, BookingCopyRow.start_at <= remind_from)
        .order_by(BookingCopyRow.start_at).limit(limit)
        .with_for_update(skip_locked=True)).all()


def forget_finished_bookings(session, ended_before):
    """Copies of bookings long over: nothing will be said about them any more by event."""
    return session.execute(delete(BookingCopyRow).where(
        BookingCopyRow.end_at < ended_before)).rowcount
