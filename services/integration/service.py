"""The integration service's Nameko entrypoints: every event of booking, payments and
notifications goes into the integration log; payments confirm bookings and cancellations
refund payments; operators search the log and retry what failed."""
import logging

from services.common.db import ServiceDatabase
from services.common.inbox import (DEAD, DONE, FAILED, Inbox, InboxRunner, ReliableConsumer,
                                   on_event, on_event_batches)
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, TimedRpcProxy, rpc
from services.integration import operations
from services.integration.models import Base

log = logging.getLogger(__name__)

# A refund waits on the provider (its own HTTP timeout is 10 s): give it longer than the
# gateway's RPC timeout. A call that times out is retried by the inbox; refunds are idempotent.
PAYMENTS_RPC_TIMEOUT = 30

# Events that drive nothing here: only logged, in batches.
LOGGED_EVENTS = (
    ("booking", "booking.created"), ("booking", "booking.confirmed"),
    ("booking", "booking.payment_recorded"), ("booking", "booking.expired"),
    ("booking", "booking.completed"),
    ("payments", "payment.failed"), ("payments", "payment.refunded"),
    ("payments", "payment.amount_mismatch"), ("payments", "payment.refund_failed"),
    ("notifications", "notification.sent"), ("notifications", "notification.failed"),
)


class LoggingInboxRunner(InboxRunner):
    """The shared inbox, plus: the log row shows how many tries a reaction took, and a
    failure goes into the integration log in the same transaction as the inbox's record of
    it (the handler's own writes were rolled back)."""

    def decided(self, session, service, outcome):
        if outcome.status == DONE:
            operations.count_attempts(session, outcome.envelope, outcome.attempts)
        elif outcome.status in (FAILED, DEAD):
            # An event too broken even to be logged must not take the inbox's record down.
            try:
                with session.begin_nested():
                    operations.log_failure(session, outcome.envelope, outcome.status,
                                           outcome.error, outcome.attempts)
            except Exception:
                log.exception("could not log the failure of %s on %s", outcome.handler,
                              outcome.envelope.get("event_id"))


class LoggingInbox(Inbox):
    runner_class = LoggingInboxRunner


class IntegrationService(Pingable, ReliableConsumer):
    name = "integration"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    inbox = LoggingInbox()
    booking = TimedRpcProxy("booking")
    payments = TimedRpcProxy("payments", timeout=PAYMENTS_RPC_TIMEOUT)

    # --- reactions ---
    @on_event("payments", "payment.succeeded")
    def payment_succeeded(self, session, event):
        operations.confirm_paid_booking(session, event, self.booking, self.payments)

    @on_event("booking", "booking.cancelled")
    def booking_cancelled(self, session, event):
        operations.refund_cancelled_booking(session, event, self.payments)

    # --- events that are only logged ---
    @on_event_batches(*LOGGED_EVENTS)
    def log_events(self, session, events):
        operations.log_events(session, events)

    # --- operators ---
    @rpc
    def list_events(self, type=None, booking_id=None, payment_id=None, source=None,
                    since=None, until=None, status=None, cursor=None, limit=50):
        """{items, next_cursor}: the integration log newest first (by occurred_at, then
        event_id), filtered by type, booking_id, payment_id, source, status (logged | done |
        failed | dead) and occurred_at in [since, until) (ISO-8601; no offset means UTC).
        Pass next_cursor on for the next page. Each item: event_id, type, version, source,
        occurred_at, received_at, booking_id, payment_id, payload, status, reaction, outcome,
        attempts. Reads only."""
        filters = given(type=type, booking_id=booking_id, payment_id=payment_id, source=source,
                        since=since, until=until, status=status, cursor=cursor, limit=limit)
        with self.db.get_session() as session:
            return operations.list_events(session, filters)

    @rpc
    def booking_chain(self, booking_id):
        """{booking_id, items}: every logged event of one booking (its own, its payments',
        its notifications'), in the order they happened. Reads only."""
        with self.db.get_session() as session:
            return operations.booking_chain(session, booking_id)

    @rpc
    def get_event(self, event_id):
        """One event of the log with its status and outcome. Raises EventNotFound."""
        with self.db.get_session() as session:
            return operations.get_event(session, event_id)

    @rpc
    def retry_event(self, event_id):
        """Run a failed or dead event's reaction again now; returns the event as logged after
        the try (status done, or failed/dead with the new outcome). Safe to repeat: the
        reactions are idempotent. Raises EventNotFound, EventNotRetryable (done or logged)."""
        with self.db.get_session() as session:
            operations.check_retryable(session, event_id)
        self.inbox.retry(self, event_id)
        return self.get_event(event_id)
