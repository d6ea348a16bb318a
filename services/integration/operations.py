"""The integration service's use cases: log every event, and drive the reactions that span
services. Each runs in the inbox's transaction (one session): the log row, the outcome of
the reaction and the inbox record commit together.

A reaction calls another service by RPC. When that call fails it raises ReactionFailed: the
inbox rolls the handler's writes back, keeps the event and tries again with backoff, and the
log row shows the failure (see `log_failure`). The callee's idempotency (per payment_id, per
request_id) makes every retry safe.
"""
from datetime import timezone

from contracts.errors.base import StudioError
from contracts.errors.booking import BookingCancelled, SlotTaken
from contracts.errors.integration import EventNotRetryable
from contracts.integration import EventLogQuerySchema
from services.common.clock import iso
from services.common.input import load
from services.integration import store

# The log's statuses (contracts.integration.EVENT_STATUSES); failed and dead are the inbox's.
LOGGED, DONE, FAILED, DEAD = "logged", "done", "failed", "dead"

CONFIRM_BOOKING = "confirm_booking"
REFUND_SLOT_TAKEN = "refund_slot_taken"
REFUND_BOOKING_CANCELLED = "refund_booking_cancelled"
REFUND_OVERPAID = "refund_overpaid"
REFUND_BOOKING = "refund_booking"

# What an event with nothing to do is logged with, when there is something to say.
NOTES = {
    "payment.failed": "nothing to do: the hold stays until it expires, and the customer may "
                      "pay again",
    "payment.amount_mismatch": "nothing applied: the provider reported another amount; an "
                               "operator's matter",
    "payment.refund_failed": "the provider refused the refund; an operator sends it again "
                             "(payments.refund) or settles it by hand",
}


class ReactionFailed(Exception):
    """A reaction's call to another service failed; the inbox will try the event again."""

    def __init__(self, reaction, outcome):
        super().__init__(f"{reaction}: {outcome}")
        self.reaction = reaction
        self.outcome = outcome


def describe(exc):
    """An error as one line for the log: its type and message (a typed remote error keeps its
    own name; nameko's RemoteError names the remote type)."""
    if isinstance(exc, StudioError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


# --- logging --------------------------------------------------------------------------------

def log_event(session, event, note=None):
    """An event that drives nothing: logged as it came."""
    log_events(session, [event], note)


def log_events(session, events, note=None):
    """Events that drive nothing, logged as they came, in one statement."""
    store.save_entries(session, [store.entry_row(event, LOGGED,
                                                 outcome=note or NOTES.get(event["type"]))
                                 for event in events])


def log_failure(session, event, status, exc, attempts):
    """After the inbox rolled a failed reaction back: log the failure in the same
    transaction as the inbox's record of it (status failed, or dead after the last try)."""
    reaction = getattr(exc, "reaction", None)
    outcome = getattr(exc, "outcome", None) or describe(exc)
    if status == DEAD:
        outcome += " (given up after the last try: an operator may retry_event)"
    store.save_entry(session, event, status, reaction, outcome, attempts)


def count_attempts(session, event, attempts):
    """A reaction done at a later try: the log row shows how many tries it took (the first
    try's row already says 1)."""
    if attempts > 1:
        store.set_attempts(session, event["event_id"], attempts)


def _done(session, event, reaction, outcome):
    store.save_entry(session, event, DONE, reaction, outcome)


# --- reactions ------------------------------------------------------------------------------

def confirm_paid_booking(session, event, booking, payments):
    """payment.succeeded: confirm the booking (idempotent per payment_id). If the hold had
    expired and its slot was taken meanwhile, or the booking was cancelled before the money
    came, refund the payment in full; if the payment took the booking past its price (two
    payments paid side by side: a prepayment and a full one), refund what it paid beyond.
    Refunds are idempotent per request_id."""
    paid = event["payload"]
    try:
        view = booking.confirm_booking(paid["booking_id"], paid["payment_id"], paid["amount"])
    except SlotTaken as exc:
        why = f"the hold had expired and its slot was taken ({exc.message})"
        outcome = _refund(event, payments, REFUND_SLOT_TAKEN, "slot-taken", why)
        return _done(session, event, REFUND_SLOT_TAKEN, outcome)
    except BookingCancelled:
        why = "the booking was cancelled before the payment arrived"
        outcome = _refund(event, payments, REFUND_BOOKING_CANCELLED, "booking-cancelled", why)
        return _done(session, event, REFUND_BOOKING_CANCELLED, outcome)
    except Exception as exc:
        raise ReactionFailed(CONFIRM_BOOKING, describe(exc)) from exc
    confirmed = (f"booking {view['status']}: {view['amount_paid']} of {view['price_total']} "
                 f"{view['currency']} kopecks paid")
    # what this payment brought beyond the price, as the booking fixed it when it applied
    # the payment (so a retry, or payments in any order, never refunds twice)
    overpaid = view.get("overpaid", 0)
    if overpaid > 0:
        why = f"it paid {overpaid} kopecks beyond the booking's price"
        outcome = _refund(event, payments, REFUND_OVERPAID, "overpaid", why, amount=overpaid)
        return _done(session, event, REFUND_OVERPAID, f"{confirmed}; {outcome}")
    _done(session, event, CONFIRM_BOOKING, confirmed)


def _refund(event, payments, reaction, key, why, amount=None):
    """Refund this event's payment (in full when `amount` is None)."""
    paid = event["payload"]
    try:
        result = payments.refund(paid["payment_id"], amount,
                                 reason=f"Refunded{' in full' if amount is None else ''}: {why}.",
                                 request_id=f"{event['event_id']}:{key}")
    except Exception as exc:
        raise ReactionFailed(reaction, f"{why}; the refund failed: {describe(exc)}") from exc
    refund = (result or {}).get("refund") or {}
    return (f"{why}: refund {refund.get('id')} of {refund.get('amount')} kopecks "
            f"({refund.get('status')})")


def refund_cancelled_booking(session, event, payments):
    """booking.cancelled with refund_due > 0: refund that across the booking's payments."""
    _refund_due(session, event, payments,
                "Booking cancelled: the refund due under the cancellation policy.")


def refund_rescheduled_booking(session, event, payments):
    """booking.rescheduled with refund_due > 0 (moved to a cheaper time): refund the
    difference across the booking's payments."""
    _refund_due(session, event, payments, "Booking moved: the difference to the new price.")


def _refund_due(session, event, payments, reason):
    """Refund the event's refund_due (idempotent per request_id = this event's id, so a
    redelivered event or a retry never refunds twice)."""
    changed = event["payload"]
    refund_due = changed.get("refund_due") or 0
    if refund_due <= 0:
        return log_event(session, event, "no refund due")
    try:
        result = payments.refund_booking(changed["booking_id"], refund_due, reason,
                                         event["event_id"])
    except Exception as exc:
        raise ReactionFailed(REFUND_BOOKING, f"refund of {refund_due} kopecks failed: "
                                             f"{describe(exc)}") from exc
    outcome = f"{result.get('refunded', 0)} of {refund_due} kopecks refunded"
    if result.get("not_covered"):
        outcome += (f"; {result['not_covered']} not covered by any online payment (money "
                    "taken at the desk, or a refund still pending): an operator's matter")
    _done(session, event, REFUND_BOOKING, outcome)


# --- operators ------------------------------------------------------------------------------

def entry_view(row):
    return {
        "event_id": str(row.event_id), "type": row.type, "version": row.version,
        "source": row.source, "occurred_at": iso(row.occurred_at, timezone.utc),
        "received_at": iso(row.received_at, timezone.utc), "booking_id": row.booking_id,
        "payment_id": row.payment_id, "payload": row.payload, "status": row.status,
        "reaction": row.reaction, "outcome": row.outcome, "attempts": row.attempts,
        "correlation_id": row.correlation_id,
    }


def list_events(session, filters):
    query = load(EventLogQuerySchema, filters, message="Some filters are invalid.")
    rows, next_cursor = store.list_entries(session, query, query.get("cursor"),
                                           query["limit"])
    return {"items": [entry_view(row) for row in rows], "next_cursor": next_cursor}


def booking_chain(session, booking_id):
    return {"booking_id": str(booking_id),
            "items": [entry_view(row) for row in store.booking_chain(session, booking_id)]}


def get_event(session, event_id):
    return entry_view(store.load_entry(session, event_id))


def check_retryable(session, event_id):
    row = store.load_entry(session, event_id)
    if row.status not in (FAILED, DEAD):
        raise EventNotRetryable(f"Event {event_id} is {row.status}: it has nothing to retry.",
                                {"event_id": str(event_id), "status": row.status})
