"""Inbox: every consumed event has its effect exactly once, and none is ever dropped.

    class Integration(ReliableConsumer):
        @on_event("payments", "payment.succeeded")
        def confirm_paid_booking(self, session, event):
            ...   # writes in `session` commit together with the inbox record

The handler runs in one transaction with its inbox row (event_id, handler). A repeat of a
handled event is skipped. A handler that raises has its writes rolled back to a savepoint
and the event kept as `failed` with a time for the next try (exponential backoff); a timer
retries due events; after `inbox_max_attempts` the event is parked `dead`, where an operator
lists it and retries it by RPC. Only when the database itself is unreachable does the message
go back to RabbitMQ (requeue), since there is then nowhere to keep it.
"""
import functools
import json
import logging
import traceback
from datetime import datetime, timedelta, timezone

import eventlet
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from sqlalchemy import text

from services.common.rpc import rpc

log = logging.getLogger(__name__)

DONE, FAILED, DEAD = "done", "failed", "dead"
MAX_ERROR_CHARS = 4000


def backoff(attempts, base, cap):
    return min(cap, base * 2 ** (attempts - 1))


def process_event(session, handler_name, envelope, handle, settings, force=False):
    """Run `handle(session, envelope)` once for this (event, handler); returns the outcome:
    'done', 'skipped', 'failed' or 'dead'. Commits nothing: the caller's session does."""
    session.execute(
        text("INSERT INTO inbox (event_id, handler, type, source, envelope, status) "
             "VALUES (:e, :h, :t, :s, CAST(:env AS jsonb), :st) ON CONFLICT DO NOTHING"),
        {"e": envelope["event_id"], "h": handler_name, "t": envelope["type"],
         "s": envelope["source"], "env": json.dumps(envelope), "st": FAILED})
    row = session.execute(
        text("SELECT status, attempts FROM inbox WHERE event_id = :e AND handler = :h "
             "FOR UPDATE"), {"e": envelope["event_id"], "h": handler_name}).one()
    if row.status == DONE or (row.status == DEAD and not force):
        return "skipped"
    attempts = row.attempts + 1
    try:
        with session.begin_nested():
            handle(session, envelope)
    except Exception as exc:
        dead = attempts >= settings["inbox_max_attempts"]
        delay = backoff(attempts, settings["inbox_backoff_base_seconds"],
                        settings["inbox_backoff_cap_seconds"])
        log.warning("%s failed on %s %s (attempt %d): %r", handler_name, envelope["type"],
                    envelope["event_id"], attempts, exc)
        session.execute(
            text("UPDATE inbox SET status = :st, attempts = :a, last_error = :err, "
                 "next_attempt_at = :next WHERE event_id = :e AND handler = :h"),
            {"st": DEAD if dead else FAILED, "a": attempts,
             "err": "".join(traceback.format_exception_only(exc))[:MAX_ERROR_CHARS],
             "next": None if dead else datetime.now(timezone.utc) + timedelta(seconds=delay),
             "e": envelope["event_id"], "h": handler_name})
        return DEAD if dead else FAILED
    session.execute(
        text("UPDATE inbox SET status = :st, attempts = :a, last_error = NULL, "
             "next_attempt_at = NULL, handled_at = now() WHERE event_id = :e AND handler = :h"),
        {"st": DONE, "a": attempts, "e": envelope["event_id"], "h": handler_name})
    return DONE


def on_event(source_service, event_type):
    """`@event_handler` with the inbox: the method is `(self, session, event)`."""

    def decorate(method):
        @functools.wraps(method)
        def handle_delivery(self, envelope):
            return self.inbox.handle(self, method.__name__, envelope)

        handle_delivery.inbox_handler = method
        # requeue only matters when the inbox itself could not record the event (database
        # down): handler errors are kept in the inbox and never reach nameko.
        return event_handler(source_service, event_type, requeue_on_error=True)(handle_delivery)

    return decorate


class Inbox(DependencyProvider):
    """Runs inbox handlers with the service's `db` (a ServiceDatabase)."""

    def setup(self):
        settings = self.container.config["RELIABILITY"]
        self.settings = {
            "inbox_max_attempts": int(settings["inbox_max_attempts"]),
            "inbox_backoff_base_seconds": float(settings["inbox_backoff_base_seconds"]),
            "inbox_backoff_cap_seconds": float(settings["inbox_backoff_cap_seconds"]),
        }

    def get_dependency(self, worker_ctx):
        return _InboxRunner(self.settings)


class _InboxRunner:
    def __init__(self, settings):
        self.settings = settings

    def handle(self, service, handler_name, envelope, force=False):
        method = getattr(type(service), handler_name).inbox_handler
        try:
            with service.db.get_session() as session:
                return process_event(session, handler_name, envelope,
                                     lambda s, e: method(service, s, e), self.settings, force)
        except Exception:
            # The inbox itself could not record the event: give the message back to the
            # broker after a pause, rather than spin on a database that is away.
            eventlet.sleep(1)
            raise

    def retry_due(self, service, limit=50):
        with service.db.get_session() as session:
            rows = session.execute(
                text("SELECT handler, envelope FROM inbox WHERE status = :st "
                     "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT :n"),
                {"st": FAILED, "n": limit}).all()
        for row in rows:
            self.handle(service, row.handler, row.envelope)
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
