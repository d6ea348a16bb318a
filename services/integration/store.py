"""Queries of the integration log."""
import uuid
from datetime import datetime, timezone

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert

from contracts.errors.integration import EventNotFound
from services.common.input import uuid_or_none
from services.common.paging import decode_cursor, page
from services.integration.models import EventLogRow, WebhookEndpointsStampRow

CHAIN_LIMIT = 1000


# session.info: the webhook endpoints' stamp as this transaction's log write saw it.
ENDPOINTS_STAMP = "webhook_endpoints_stamp"


def _save_statement():
    # Core on the table: the caller wants no ORM objects back. RETURNING keeps a batch one
    # statement (SQLAlchemy 2.1 sends an upsert without it row by row); a batch never holds
    # an event twice (the inbox hands each one over once). It also returns the webhook
    # endpoints' stamp, read by the same statement, for the deliveries that follow.
    statement = insert(EventLogRow.__table__)
    return statement.on_conflict_do_update(
        index_elements=[EventLogRow.event_id],
        set_={"status": statement.excluded.status, "reaction": statement.excluded.reaction,
              "outcome": statement.excluded.outcome, "attempts": statement.excluded.attempts,
              "updated_at": func.now()}).returning(
        EventLogRow.event_id,
        select(WebhookEndpointsStampRow.stamp).scalar_subquery().label("endpoints_stamp"))


# Built once: every log write (one event, or a batch in one executemany) reuses it.
_SAVE = _save_statement()


def entry_row(envelope, status, reaction=None, outcome=None, attempts=1):
    """An event's log row: its own fields and how its reaction went."""
    payload = envelope.get("payload") or {}
    return {
        "event_id": envelope["event_id"], "type": envelope["type"],
        "version": envelope.get("version", 1), "source": envelope["source"],
        "occurred_at": _moment(envelope.get("occurred_at")),
        "booking_id": _id_or_none(payload.get("booking_id")),
        "payment_id": _id_or_none(payload.get("payment_id")),
        "payload": payload, "status": status, "reaction": reaction, "outcome": outcome,
        "attempts": attempts, "correlation_id": envelope.get("correlation_id"),
    }


def save_entries(session, rows):
    """Write log rows (entry_row), or update how their reactions went. The events' own fields
    and received_at are kept from the first write."""
    if rows:
        saved = session.execute(_SAVE, rows).all()
        session.info[ENDPOINTS_STAMP] = saved[0].endpoints_stamp


def save_entry(session, envelope, status, reaction=None, outcome=None, attempts=1):
    save_entries(session, [entry_row(envelope, status, reaction, outcome, attempts)])


def _moment(value):
    """The envelope's occurred_at; a producer that sent none (or garbage) gets the time it
    was received, rather than an event that can never be logged."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _id_or_none(value):
    return None if value is None else str(value)


def set_attempts(session, event_id, attempts):
    """The log row shows how many tries its reaction took."""
    session.execute(text("UPDATE event_log SET attempts = :a WHERE event_id = :e"),
                    {"a": attempts, "e": event_id})


def load_entry(session, event_id):
    row = None
    if uuid_or_none(event_id) is not None:
        row = session.get(EventLogRow, str(event_id))
    if row is None:
        raise EventNotFound(f"The integration log has no event {event_id}.",
                            {"event_id": event_id})
    return row


def list_entries(session, filters, cursor=None, limit=50):
    """Log rows newest first, keyset-paged on (occurred_at, event_id): (rows, next_cursor)."""
    query = select(EventLogRow).order_by(EventLogRow.occurred_at.desc(),
                                         EventLogRow.event_id.desc())
    for name in ("type", "source", "booking_id", "payment_id", "status", "correlation_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(EventLogRow, name) == filters[name])
    if filters.get("since") is not None:
        query = query.where(EventLogRow.occurred_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(EventLogRow.occurred_at < filters["until"])
    if cursor:
        position = decode_cursor(cursor, lambda occurred_at, event_id: (
            datetime.fromisoformat(occurred_at), str(uuid.UUID(event_id))))
        query = query.where(tuple_(EventLogRow.occurred_at, EventLogRow.event_id)
                            < tuple_(*position))
    return page(session, query, limit,
                lambda row: (row.occurred_at.isoformat(), str(row.event_id)))


def booking_chain(session, booking_id):
    """One booking's events in the order they happened."""
    return session.scalars(
        select(EventLogRow).where(EventLogRow.booking_id == str(booking_id))
        .order_by(EventLogRow.occurred_at, EventLogRow.received_at, EventLogRow.event_id)
        .limit(CHAIN_LIMIT)).all()
