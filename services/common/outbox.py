"""Transactional outbox: an event is stored in the same transaction as the state it describes,
and a relay publishes committed events afterwards, in order, through nameko's event exchange.

    record_event(session, "booking", "booking.created", payload)   # joins the caller's transaction

The relay runs inside each service process (`OutboxRelay` dependency). A commit that adds an
event sends a NOTIFY, which wakes the relay at once; an idle relay only checks the table every
`outbox_idle_check_seconds` as a safety net. While the broker is away the events wait in the
table and go out once it is back.
"""
import json
import logging
import time

import eventlet
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from sqlalchemy import text

from contracts.events import make_envelope
from services.common.config import db_uri
from services.common.db import Listener, make_psycopg_cooperative, session_factory

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "outbox"
# Only one relay per database publishes at a time, so events leave in commit order even
# when a service runs several processes.
RELAY_LOCK_KEY = 0x6F7574626F78


def record_event(session, source, event_type, payload, version=1):
    """Add an event to the caller's transaction; it is published only if that commits."""
    envelope = make_envelope(source, event_type, payload, version=version)
    session.execute(
        text("INSERT INTO outbox (event_id, type, envelope) "
             "VALUES (:event_id, :type, CAST(:envelope AS jsonb))"),
        {"event_id": envelope["event_id"], "type": event_type,
         "envelope": json.dumps(envelope)})
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    return envelope


class Relay:
    """Publishes unpublished outbox rows of one database; no nameko container needed."""

    def __init__(self, service_name, config):
        settings = config["RELIABILITY"]
        self.uri = db_uri(config, service_name)
        self.batch = int(settings["outbox_batch"])
        self.idle_seconds = float(settings["outbox_idle_check_seconds"])
        self.keep_days = int(settings["outbox_keep_days"])
        # one green thread, one transaction at a time (its LISTEN connection is apart)
        self.Session = session_factory(self.uri, pool_size=1, max_overflow=1)
        self.exchange = get_event_exchange(service_name, config)
        self.publisher = Publisher(
            config["AMQP_URI"], use_confirms=True, declare=[self.exchange],
            retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2})
        self._listener = None
        self._last_cleanup = 0.0

    def publish_pending(self):
        """Publish one batch; returns how many rows were taken."""
        with self.Session() as session, session.begin():
            if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                   {"k": RELAY_LOCK_KEY}).scalar():
                return 0
            rows = session.execute(
                text("SELECT id, type, envelope FROM outbox WHERE published_at IS NULL "
                     "ORDER BY id LIMIT :n"), {"n": self.batch}).all()
            sent, failure = [], None
            for row in rows:
                try:
                    self.publisher.publish(row.envelope, exchange=self.exchange,
                                           routing_key=row.type,
                                           message_id=row.envelope["event_id"])
                except Exception as exc:  # broker away: keep the rest for the next round
                    failure = exc
                    break
                sent.append(row.id)
            if sent:
                session.execute(text("UPDATE outbox SET published_at = now() "
                                     "WHERE id = ANY(:ids)"), {"ids": sent})
        if failure is not None:
            raise failure
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
        failures = 0
        while True:
            try:
                if self._listener is None:
                    self.listen()
                if self.publish_pending() >= self.batch:
                    continue
                self.remove_old()
                failures = 0
                self.wait_for_commit()
            except Exception as exc:
                failures += 1
                delay = min(10.0, 0.2 * 2 ** failures)
                log.warning("outbox relay: %s; trying again in %.1f s", exc, delay)
                self.close_listener()
                eventlet.sleep(delay)

    def listen(self):
        self._listener = Listener(self.uri, NOTIFY_CHANNEL)

    def close_listener(self):
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def close(self):
        self.close_listener()
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
