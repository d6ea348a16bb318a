"""Inbox: every consumed event has its effect exactly once, and none is ever dropped.

    class Integration(ReliableConsumer):
        @on_event("payments", "payment.succeeded")
        def confirm_paid_booking(self, session, event):
            ...   # writes in `session` commit together with the inbox record

        @on_event_batches(("booking", "booking.created"), ("booking", "booking.expired"))
        def log_events(self, session, events):
            ...   # events that arrived together: one transaction, one commit

The handler runs in one transaction with its inbox row (event_id, handler).

- First delivery (the common case): one statement, `INSERT ... (done, attempt 1) ON CONFLICT
  DO NOTHING RETURNING`, then the handler, in the same transaction: its commit records the
  effect and the inbox row together. A concurrent duplicate waits on the row's key and then
  finds it.
- A repeat (the INSERT found a row): the row is locked (`SELECT ... FOR UPDATE`); done (or
  dead) is skipped, failed runs again as the next attempt.
- A handler that raises: its transaction (inbox row included) is rolled back whole, and the
  failure is recorded in a new transaction, `failed` with a time for the next try (exponential
  backoff) or, after `inbox_max_attempts`, parked `dead` for an operator. A crash between the
  two leaves the message unacknowledged: the broker delivers it again.
- Only when the database itself is unreachable does the message go back to RabbitMQ
  (requeue), since there is then nowhere to keep it.

`InboxRunner.decided(session, service, outcomes)` is the one place where events' outcomes are
known (one event's, or a batch's together): it runs inside the transaction that records them
(for `skipped`, the one that found the row). Subclass the runner (and `Inbox.runner_class`)
to act on outcomes: log them, count them.
"""
import functools
import json
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import eventlet
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from sqlalchemy import text

from services.common import metrics, tracing
from services.common.batches import ReliableEventHandler, batched_event_handler
from services.common.rpc import rpc

log = logging.getLogger(__name__)

DONE, FAILED, DEAD, SKIPPED = "done", "failed", "dead", "skipped"
MAX_ERROR_CHARS = 4000

# The first delivery of each event: an inbox row already done, for every event given at once.
# A row that is there (a repeat, or one another delivery holds) is not returned.
_CLAIM = text(
    "INSERT INTO inbox (event_id, handler, type, source, envelope, status, attempts, "
    "handled_at) SELECT e, :h, t, s, env, 'done', 1, now() FROM unnest("
    "CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:sources AS text[]), "
    "CAST(:envelopes AS jsonb[])) AS x(e, t, s, env) "
    "ON CONFLICT DO NOTHING RETURNING event_id::text")
_LOCK = text("SELECT status, attempts FROM inbox WHERE event_id = :e AND handler = :h "
             "FOR UPDATE")
_DONE_AGAIN = text("UPDATE inbox SET status = 'done', attempts = :a, last_error = NULL, "
                   "next_attempt_at = NULL, handled_at = now() "
                   "WHERE event_id = :e AND handler = :h")
# A failure, whether the row was rolled back with the handler (first delivery) or is there
# from an earlier try; never over a row another delivery has since done.
_FAILURE = text(
    "INSERT INTO inbox (event_id, handler, type, source, envelope, status, attempts, "
    "last_error, next_attempt_at) VALUES (:e, :h, :t, :s, CAST(:env AS jsonb), :st, :a, :err, "
    ":next) ON CONFLICT (event_id, handler) DO UPDATE SET status = EXCLUDED.status, "
    "attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, "
    "next_attempt_at = EXCLUDED.next_attempt_at "
    "WHERE inbox.status <> 'done' AND inbox.attempts < EXCLUDED.attempts RETURNING 1")


def backoff(attempts, base, cap):
    return min(cap, base * 2 ** (attempts - 1))


@dataclass
class Outcome:
    """How one (event, handler) went: done, skipped (a repeat), failed or dead."""
    status: str
    handler: str
    envelope: dict
    attempts: int = 0
    error: BaseException | None = None


def claim_first_deliveries(session, handler_name, envelopes):
    """Record each event as done by this handler, in the caller's transaction; the ids of
    those seen for the first time (the others are repeats)."""
    return set(session.execute(_CLAIM, {
        "h": handler_name, "ids": [e["event_id"] for e in envelopes],
        "types": [e["type"] for e in envelopes], "sources": [e["source"] for e in envelopes],
        "envelopes": [json.dumps(e) for e in envelopes]}).scalars())


def on_event(source_service, event_type):
    """`@event_handler` with the inbox: the method is `(self, session, event)`."""

    def decorate(method):
        @functools.wraps(method)
        def handle_delivery(self, envelope):
            return self.inbox.handle(self, method.__name__, envelope)

        handle_delivery.inbox_handler = method
        # requeue only matters when the inbox itself could not record the event (database
        # down): handler errors are kept in the inbox and never reach nameko.
        return ReliableEventHandler.decorator(source_service, event_type,
                                              requeue_on_error=True)(handle_delivery)

    return decorate


def on_event_batches(*subscriptions):
    """A batched consumer with the inbox, for handlers that are pure database work: the
    method is `(self, session, events)` and gets the events (of the given (source service,
    event type) pairs) that arrived together, up to RELIABILITY.consumer_batch_size, all
    handled in one transaction. If that fails, each event is handled alone (a list of one),
    so one bad event fails by itself and its neighbours go through."""

    def decorate(method):
        @functools.wraps(method)
        def handle_deliveries(self, envelopes):
            return self.inbox.handle_batch(self, method.__name__, envelopes)

        handle_deliveries.inbox_handler = lambda service, session, event: method(
            service, session, [event])
        handle_deliveries.inbox_batch_handler = method
        return batched_event_handler(subscriptions)(handle_deliveries)

    return decorate


class InboxRunner:
    def __init__(self, settings):
        self.settings = settings

    def decided(self, session, service, outcomes):
        """Called once the outcomes of events are known (a list: one event's, or a batch's),
        inside the transaction that records them. Raising here on `done` fails the events
        like their handler would."""

    # --- one event ---

    def handle(self, service, handler_name, envelope, force=False, first_delivery=True):
        """Run the handler once for this event; returns the outcome's status."""
        handle = getattr(type(service), handler_name).inbox_handler
        try:
            # what the handler causes (RPCs, events) carries the event's correlation id
            with tracing.continuing(envelope.get("correlation_id")):
                status = self._run(service, handler_name, envelope,
                                   lambda session: handle(service, session, envelope),
                                   force, first_delivery).status
            metrics.observe_handled(service, handler_name, envelope, status)
            return status
        except Exception:
            # The inbox itself could not record the event: give the message back to the
            # broker after a pause, rather than spin on a database that is away.
            eventlet.sleep(1)
            raise

    def _run(self, service, handler_name, envelope, handle, force, first_delivery):
        attempts = 1
        with service.db.get_session() as session:
            fresh = first_delivery and not force and claim_first_deliveries(
                session, handler_name, [envelope])
            if not fresh:
                row = session.execute(_LOCK, {"e": envelope["event_id"],
                                              "h": handler_name}).one_or_none()
                if row is not None and (row.status == DONE or (row.status == DEAD
                                                               and not force)):
                    outcome = Outcome(SKIPPED, handler_name, envelope, row.attempts)
                    self.decided(session, service, [outcome])
                    return outcome
                attempts = (row.attempts if row is not None else 0) + 1
            try:
                handle(session)
                if not fresh:
                    session.execute(_DONE_AGAIN, {"a": attempts, "e": envelope["event_id"],
                                                  "h": handler_name})
                outcome = Outcome(DONE, handler_name, envelope, attempts)
                self.decided(session, service, [outcome])
                return outcome
            except Exception as exc:
                session.rollback()
                error = exc
        return self._record_failure(service, handler_name, envelope, attempts, error)

    def _record_failure(self, service, handler_name, envelope, attempts, exc):
        """The failed try, in a transaction of its own (the handler's was rolled back)."""
        dead = attempts >= self.settings["inbox_max_attempts"]
        delay = backoff(attempts, self.settings["inbox_backoff_base_seconds"],
                        self.settings["inbox_backoff_cap_seconds"])
        log.warning("%s failed on %s %s (attempt %d): %r", handler_name, envelope["type"],
                    envelope["event_id"], attempts, exc)
        with service.db.get_session() as session:
            recorded = session.execute(_FAILURE, {
                "e": envelope["event_id"], "h": handler_name, "t": envelope["type"],
                "s": envelope["source"], "env": json.dumps(envelope),
                "st": DEAD if dead else FAILED, "a": attempts,
                "err": "".join(traceback.format_exception_only(exc))[:MAX_ERROR_CHARS],
                "next": None if dead else datetime.now(timezone.utc) + timedelta(seconds=delay),
            }).first()
            # Another delivery of the same event has done it since: nothing failed for good.
            outcome = Outcome((DEAD if dead else FAILED) if recorded else SKIPPED,
                              handler_name, envelope, attempts, exc)
            self.decided(session, service, [outcome])
        return outcome

    # --- events that arrived together ---

    def handle_batch(self, service, handler_name, envelopes):
        """Handle the events in one transaction; if that fails, each one alone. Returns the
        outcomes' statuses in the order given. Raises (the broker redelivers them all; the
        inbox skips what was recorded) only when the database cannot be reached."""
        handle = getattr(type(service), handler_name).inbox_batch_handler
        statuses, batch_failed = [None] * len(envelopes), False
        try:
            with service.db.get_session() as session:
                fresh_ids = claim_first_deliveries(session, handler_name, envelopes)
                fresh = []
                for n, envelope in enumerate(envelopes):
                    if envelope["event_id"] in fresh_ids:
                        fresh_ids.discard(envelope["event_id"])  # a duplicate in the batch
                        fresh.append(envelope)
                        statuses[n] = DONE
                if fresh:
                    handle(service, session, fresh)
                self.decided(session, service,
                             [Outcome(DONE, handler_name, envelope, 1) for envelope in fresh])
        except Exception as exc:
            log.info("%s: a batch of %d failed (%r); handling them one by one",
                     handler_name, len(envelopes), exc)
            statuses, batch_failed = [None] * len(envelopes), True
        for n, envelope in enumerate(envelopes):
            if statuses[n] == DONE:
                metrics.observe_handled(service, handler_name, envelope, DONE)
        for n, envelope in enumerate(envelopes):
            if statuses[n] is None:  # repeats, or all of a batch that failed
                statuses[n] = self.handle(service, handler_name, envelope,
                                          first_delivery=batch_failed)
        return statuses

    # --- retries and operators ---

    def retry_due(self, service, limit=50):
        with service.db.get_session() as session:
            rows = session.execute(
                text("SELECT handler, envelope FROM inbox WHERE status = :st "
                     "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT :n"),
                {"st": FAILED, "n": limit}).all()
        for row in rows:
            self.handle(service, row.handler, row.envelope, first_delivery=False)
        return len(rows)

    def list_events(self, service, status, limit):
        with service.db.get_session() as session:
            rows = session.execute(
                text("SELECT event_id, handler, type, source, status, attempts, last_error, "
                     "received_at, next_attempt_at, envelope FROM inbox WHERE status = :st "
                     "ORDER BY received_at LIMIT :n"), {"st": status, "n": limit}).mappings()
            return [_row_to_dict(r) for r in rows]

    def retry(self, service, event_id, handler=None):
        with service.db.get_session() as session:
            rows = session.execute(
                text("SELECT handler, envelope FROM inbox WHERE event_id = :e "
                     "AND status <> :done AND (CAST(:h AS text) IS NULL OR handler = :h)"),
                {"e": event_id, "done": DONE, "h": handler}).all()
        return {row.handler: self.handle(service, row.handler, row.envelope, force=True)
                for row in rows}


class Inbox(DependencyProvider):
    """Runs inbox handlers with the service's `db` (a ServiceDatabase)."""

    runner_class = InboxRunner

    def setup(self):
        settings = self.container.config["RELIABILITY"]
        self.settings = {
            "inbox_max_attempts": int(settings["inbox_max_attempts"]),
            "inbox_backoff_base_seconds": float(settings["inbox_backoff_base_seconds"]),
            "inbox_backoff_cap_seconds": float(settings["inbox_backoff_cap_seconds"]),
        }

    def get_dependency(self, worker_ctx):
        return self.runner_class(self.settings)


def _row_to_dict(row):
    item = dict(row)
    for key in ("received_at", "next_attempt_at"):
        item[key] = item[key].isoformat() if item[key] else None
    item["event_id"] = str(item["event_id"])
    return item


class ReliableConsumer:
    """Mixin for a service that consumes events: the retry timer and the operator RPCs."""

    inbox = Inbox()

    @timer(interval=1)
    def retry_failed_events(self):
        self.inbox.retry_due(self)

    @rpc
    def list_dead_events(self, limit=100):
        """Events whose handler failed on every try and is parked: newest last."""
        return self.inbox.list_events(self, DEAD, limit)

    @rpc
    def list_failed_events(self, limit=100):
        """Events waiting for their next try after a failure."""
        return self.inbox.list_events(self, FAILED, limit)

    @rpc
    def retry_dead_event(self, event_id, handler=None):
        """Run a parked (or failed) event's handler now; returns {handler: outcome}."""
        return self.inbox.retry(self, event_id, handler)
