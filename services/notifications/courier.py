"""The courier: delivers recorded notifications after their transaction commits.

A commit that records a notification sends a NOTIFY (store.wake_couriers), which wakes the
courier of every process of this service at once; otherwise it looks again when the next
retry falls due, and at least every `delivery_interval_seconds`. Each notification is sent by
its own green thread (up to `delivery_concurrency` at a time), with no transaction open
while the channel works: a slow Telegram delays only its own messages, never the event
handlers, which only record.
"""
import logging

import eventlet
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider

from services.common.clock import now
from services.common.config import db_uri
from services.common.db import Listener, make_psycopg_cooperative, session_factory
from services.notifications import operations, store
from services.notifications.channels import build_channels

log = logging.getLogger(__name__)

# When due rows exist that another courier is claiming right now: look again this soon.
MIN_WAIT_SECONDS = 0.05
STOP_GRACE_SECONDS = 5


class Courier:
    """Delivers the notifications of one database; no nameko container needed."""

    def __init__(self, uri, settings, channels):
        self.uri = uri
        self.settings = settings
        self.channels = channels
        self.Session = session_factory(uri, pool_size=settings.delivery_concurrency + 1,
                                       max_overflow=2)
        self.pool = eventlet.GreenPool(settings.delivery_concurrency)
        self._wake = LightQueue()
        self._listener = None

    # --- delivering ---
    def deliver_due(self):
        """Hand due notifications to free green threads; returns how many were taken."""
        taken = 0
        while self.pool.free():
            limit = self.pool.free()
            with self.Session() as session, session.begin():
                claims = operations.claim_due(session, self.settings, now(), limit)
            for claim in claims:
                self.pool.spawn(self.deliver_one, claim)
            taken += len(claims)
            if len(claims) < limit:
                break
        return taken

    def deliver_one(self, claim):
        outcome = operations.deliver(claim, self.channels, self.settings)
        try:
            with self.Session() as session, session.begin():
                operations.record_outcome(session, self.settings, claim, outcome, now())
        except Exception as exc:
            # The claim lapses and the notification is tried again (maybe a second send:
            # delivery is at-least-once when the database fails right after a send).
            log.warning("notification %s: could not store its outcome (%s): %s", claim.id,
                        outcome.status, exc)
        finally:
            self.wake_up()

    def wake_up(self):
        self._wake.put(None)

    def seconds_to_wait(self):
        """Until the next retry falls due, at most delivery_interval_seconds."""
        wait = self.settings.delivery_interval_seconds
        if not self.pool.free():
            return wait  # a finished delivery wakes us
        with self.Session() as session:
            due = store.next_due_at(session)
        if due is not None:
            wait = min(wait, max(MIN_WAIT_SECONDS, (due - now()).total_seconds()))
        return wait

    def wait(self, seconds):
        try:
            self._wake.get(timeout=seconds)
        except Empty:
            return
        while not self._wake.empty():  # one look serves every wake-up so far
            self._wake.get_nowait()

    def run_forever(self):
        failures = 0
        while True:
            try:
                self.deliver_due()
                failures = 0
                self.wait(self.seconds_to_wait())
            except Exception as exc:
                failures += 1
                delay = min(10.0, 0.2 * 2 ** failures)
                log.warning("notifications courier: %s; trying again in %.1f s", exc, delay)
                eventlet.sleep(delay)

    # --- being woken by commits ---
    def listen_forever(self):
        failures = 0
        while True:
            try:
                self._listener = Listener(self.uri, store.WAKE_CHANNEL)
                self.wake_up()  # commits made while nobody listened
                failures = 0
                while True:
                    if self._listener.wait():
                        self.wake_up()
            except Exception as exc:
                failures += 1
                delay = min(10.0, 0.2 * 2 ** failures)
                log.warning("notifications courier: listening failed (%s); again in %.1f s",
                            exc, delay)
                self.close_listener()
                eventlet.sleep(delay)

    def close_listener(self):
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def finish(self, grace=STOP_GRACE_SECONDS):
        """Let sends under way finish (and store their outcome), up to `grace` seconds."""
        with eventlet.Timeout(grace, False):
            self.pool.waitall()
        for thread in list(self.pool.coroutines_running):
            thread.kill()

    def close(self):
        self.close_listener()
        self.Session.kw["bind"].dispose()


class Delivery(DependencyProvider):
    """Declare it on the service (`delivery = Delivery()`) to run its courier."""

    def setup(self):
        make_psycopg_cooperative()
        config = self.container.config
        self.courier = Courier(
            db_uri(config, self.container.service_name),
            operations.Settings.from_config(config),
            build_channels((config.get("NOTIFICATIONS") or {}).get("channels")))

    def start(self):
        self._threads = [self.container.spawn_managed_thread(self.courier.listen_forever),
                         self.container.spawn_managed_thread(self.courier.run_forever)]

    def stop(self):
        for thread in self._threads:
            thread.kill()
        self.courier.finish()
        self.courier.close()

    def kill(self):
        for thread in self._threads:
            thread.kill()
        self.courier.finish(grace=0)
        self.courier.close()

    def get_dependency(self, worker_ctx):
        return self.courier
