"""Transactional outbox: an event is stored in the same transaction as the state it describes,
and a relay publishes committed events afterwards, in order, through nameko's event exchange.

    record_event(session, "booking", "booking.created", payload)   # joins the caller's transaction

The relay runs inside each service process (`OutboxRelay` dependency). The statement that adds
an event also sends a NOTIFY (delivered at commit), which wakes the relay at once; an idle relay
only checks the table every `outbox_idle_check_seconds` as a safety net. The relay publishes a
batch of rows persistent, waits once for the broker to confirm them all, and only then commits
their mark as published: a batch the broker did not confirm goes out again (consumers skip
repeats by event_id). While the broker is away the events wait in the table and go out once it
is back.
"""
import json
import socket
import time

from kombu import Connection, Producer
from nameko.constants import PERSISTENT
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from sqlalchemy import text

from contracts.events import make_envelope
from services.common import metrics, tracing
from services.common.config import db_uri
from services.common.db import Listener, make_psycopg_cooperative, session_factory
from services.common.loops import run_rounds

NOTIFY_CHANNEL = "outbox"
# Only one relay per database publishes at a time, so events leave in commit order even
# when a service runs several processes.
RELAY_LOCK_KEY = 0x6F7574626F78


# One round trip: the row, and the NOTIFY that PostgreSQL delivers when (if) it commits.
_RECORD = text(
    "WITH added AS (INSERT INTO outbox (event_id, type, envelope) "
    "VALUES (:outbox_event_id, :outbox_type, CAST(:outbox_envelope AS jsonb))) "
    f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


def event_params(source, event_type, payload, version=1):
    """(the envelope of a new event, the parameters that record it with _RECORD or with_event)"""
    envelope = make_envelope(source, event_type, payload, version=version,
                             correlation_id=tracing.current())
    return envelope, {"outbox_event_id": envelope["event_id"], "outbox_type": event_type,
                      "outbox_envelope": json.dumps(envelope)}


def record_event(session, source, event_type, payload, version=1):
    """Add an event to the caller's transaction; it is published only if that commits."""
    envelope, params = event_params(source, event_type, payload, version)
    session.execute(_RECORD, params)
    return envelope


def with_event(statement):
    """`statement`, a text() that changes one row with a RETURNING clause (of any columns),
    made to record an event in the same round trip, if and only if it returns a row (NOTIFY
    included). Execute it with the parameters of event_params added to its own; its rows are
    what the statement returns, and a `notified` column."""
    return text(
        f"WITH changed AS ({statement.text}), "
        "added AS (INSERT INTO outbox (event_id, type, envelope) "
        "SELECT CAST(:outbox_event_id AS uuid), :outbox_type, "
        "CAST(:outbox_envelope AS jsonb) FROM changed) "
        f"SELECT changed.*, pg_notify('{NOTIFY_CHANNEL}', '') AS notified FROM changed")


# Many events at once (the timers' batches): one INSERT and one NOTIFY for all of them.
_RECORD_MANY = text(
    "WITH added AS (INSERT INTO outbox (event_id, type, envelope) "
    "SELECT CAST(e->>'event_id' AS uuid), e->>'type', e "
    "FROM jsonb_array_elements(CAST(:envelopes AS jsonb)) WITH ORDINALITY AS t(e, n) "
    "ORDER BY n) "
    f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


def record_events(session, source, events):
    """record_event for a batch of (type, payload), in their order; returns the envelopes."""
    correlation_id = tracing.current()
    envelopes = [make_envelope(source, event_type, payload, correlation_id=correlation_id)
                 for event_type, payload in events]
    if envelopes:
        session.execute(_RECORD_MANY, {"envelopes": json.dumps(envelopes, ensure_ascii=False)})
    return envelopes


class ConfirmedBatches:
    """Publishes persistent messages to one exchange and waits once per batch for the broker's
    confirms (one connection, opened again after any failure)."""

    def __init__(self, amqp_uri, exchange, timeout=10.0):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.timeout = timeout
        self.connection = None

    def _open(self):
        self.connection = Connection(self.amqp_uri)
        channel = self.connection.channel()
        channel.confirm_select()
        self.confirms = {"acked": 0, "nacked": False}
        channel.events["basic_ack"].add(self._acked)
        channel.events["basic_nack"].add(self._nacked)
        self.exchange(channel).declare()
        self.producer = Producer(channel, exchange=self.exchange, serializer="json")
        self.sent = 0

    def _acked(self, delivery_tag, multiple):
        self.confirms["acked"] = max(self.confirms["acked"], delivery_tag)

    def _nacked(self, delivery_tag, multiple, requeue=False):
        self.confirms["nacked"] = True

    def publish(self, messages):
        """Publish (body, routing_key, message_id) triples; returns once the broker has
        confirmed them all, raises if it did not."""
        try:
            if self.connection is None:
                self._open()
            for body, routing_key, message_id in messages:
                self.producer.publish(body, routing_key=routing_key, message_id=message_id,
                                      delivery_mode=PERSISTENT, retry=False)
                self.sent += 1
            deadline = time.monotonic() + self.timeout
            while self.confirms["acked"] < self.sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the broker did not confirm the batch in time")
                try:
                    self.connection.drain_events(timeout=left)
                except socket.timeout:
                    pass
            if self.confirms["nacked"]:
                raise ConnectionError("the broker refused part of the batch")
        except Exception:
            self.close()
            raise

    def close(self):
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # already gone: closing is all we wanted
                pass
            self.connection = None


# The oldest unpublished rows, marked published (now(): the transaction's start), in one round
# trip; none unless this relay holds the lock (a volatile CTE runs once, before the rest).
_TAKE_BATCH = text(
    "WITH relay AS (SELECT pg_try_advisory_xact_lock(:k) AS alone) "
    "UPDATE outbox SET published_at = now() WHERE id IN ("
    "SELECT id FROM outbox, relay WHERE relay.alone AND published_at IS NULL "
    "ORDER BY id LIMIT :n) RETURNING id, type, envelope")


class Relay:
    """Publishes unpublished outbox rows of one database; no nameko container needed."""

    def __init__(self, service_name, config):
        settings = config["RELIABILITY"]
        self.service_name = service_name
        self.uri = db_uri(config, service_name)
        self.batch = int(settings["outbox_batch"])
        self.idle_seconds = float(settings["outbox_idle_check_seconds"])
        self.keep_days = int(settings["outbox_keep_days"])
        # one green thread, one transaction at a time (its LISTEN connection is apart)
        self.Session = session_factory(self.uri, pool_size=1, max_overflow=1)
        self.publisher = ConfirmedBatches(config["AMQP_URI"],
                                          get_event_exchange(service_name, config))
        self._listener = None
        self._last_cleanup = 0.0

    def publish_pending(self):
        """Publish one batch; returns how many rows were taken. The rows are marked published
        and read in one statement, then published, and the mark commits only once the broker
        has confirmed them (a failure rolls it back: the rows go out again next round)."""
        with self.Session() as session, session.begin():
            rows = sorted(session.execute(_TAKE_BATCH, {"k": RELAY_LOCK_KEY,
                                                        "n": self.batch}).all())
            if rows:
                # broker away: raises, and the rollback leaves the rows unpublished
                self.publisher.publish([(row.envelope, row.type, row.envelope["event_id"])
                                        for row in rows])
        if rows:
            metrics.observe_published(self.service_name, [row.envelope for row in rows])
        return len(rows)

    def remove_old(self):
        if time.monotonic() - self._last_cleanup < 3600:
            return
        with self.Session() as session, session.begin():
            session.execute(text("DELETE FROM outbox WHERE published_at < now() - "
                                 "make_interval(days => :d)"), {"d": self.keep_days})
        self._last_cleanup = time.monotonic()

    def wait_for_commit(self):
        """Block this green thread until a NOTIFY arrives or the idle check is due."""
        self._listener.wait(self.idle_seconds)

    def run_forever(self):
        run_rounds(self.one_round, "outbox relay", after_failure=self.close_listener)

    def one_round(self):
        if self._listener is None:
            self.listen()
        if self.publish_pending() >= self.batch:
            return  # more are waiting
        self.remove_old()
        self.wait_for_commit()

    def listen(self):
        self._listener = Listener(self.uri, NOTIFY_CHANNEL)

    def close_listener(self):
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def close(self):
        self.close_listener()
        self.publisher.close()
        self.Session.kw["bind"].dispose()


class OutboxRelay(DependencyProvider):
    """Declare it on a service (`outbox_relay = OutboxRelay()`) to publish its outbox."""

    def setup(self):
        make_psycopg_cooperative()
        self.relay = Relay(self.container.service_name, self.container.config)

    def start(self):
        self._thread = self.container.spawn_managed_thread(self.relay.run_forever)

    def stop(self):
        self._thread.kill()
        self.relay.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return None
