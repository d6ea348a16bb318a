"""A courier: sends what a service recorded to the outside world after its transaction commits
(the notifications' messages, the outbound webhooks), with no transaction open meanwhile.

A commit that records something to send NOTIFYs `work.wake_channel`, which wakes the courier
of every process of the service at once; otherwise it looks again when the next retry falls
due, and at least every `interval_seconds`. Each item is sent by its own green thread (up to
`concurrency` at a time), so a slow receiver delays only its own items. The courier's own loop
stores the outcomes of the sends that finished (within STORE_WITHIN_SECONDS) and claims the next
items in one transaction, so a courier needs one database connection however many sends are in
flight.

`work` says what is sent and how:
    claim_due(session, now, limit) -> ([claim], next_due_at)
                      take due items for one try (leased), and see when the first item not
                      taken falls due (None: none is pending; any when `limit` were taken)
    deliver(claim) -> outcome                        send; no database work
    record_outcome(session, claim, outcome, now)     store how it went
    wake_channel: str
"""
import logging

import eventlet
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider

from services.common.clock import now
from services.common.config import db_uri
from services.common.db import Hearing, make_psycopg_cooperative, session_factory
from services.common.loops import run_rounds

log = logging.getLogger(__name__)

# When due rows exist that another courier is claiming right now: look again this soon.
MIN_WAIT_SECONDS = 0.05
STOP_GRACE_SECONDS = 5
# A finished send's outcome is stored by the next round, which comes at most this long after:
# under load a commit's NOTIFY brings that round sooner, and one transaction stores the
# outcomes and claims the new items (a round of its own per send would double the rounds).
STORE_WITHIN_SECONDS = 0.05


class Courier:
    """Delivers the due items of one database; no nameko container needed."""

    def __init__(self, uri, work, name, concurrency=10, interval_seconds=5.0):
        self.uri = uri
        self.work = work
        self.name = name
        self.interval_seconds = interval_seconds
        # one connection: only the courier's loop uses the database (sends record nothing)
        self.Session = session_factory(uri, pool_size=1, max_overflow=0)
        self.pool = eventlet.GreenPool(concurrency)
        self._wake = LightQueue()
        self._finished = []  # (claim, outcome) of sends whose outcome is not stored yet
        self._store_soon = None  # the wake-up that stores them, at most STORE_WITHIN_SECONDS on
        # commits made while nobody listened are looked for too
        self._hearing = Hearing(uri, work.wake_channel, heard=self.wake_up,
                                listening=self.wake_up)

    # --- delivering ---
    def one_round(self):
        """One transaction: store the outcomes of the sends finished since the last round,
        claim due items for the free green threads, and see when the next one falls due;
        then hand out the claims and wait (a commit's NOTIFY wakes us, as do finished sends:
        within STORE_WITHIN_SECONDS, or at once when they free the only places)."""
        finished = self._take_finished()
        try:
            claims, wait = self._store_and_claim(finished)
        except Exception:
            self._store_each(finished)  # so one bad outcome does not send its neighbours again
            raise
        for claim in claims:
            self.pool.spawn(self.deliver_one, claim)
        self.wait(wait)

    def _take_finished(self):
        """The sends finished so far, for the caller to store (their wake-up is not needed)."""
        finished, self._finished = self._finished, []
        if self._store_soon is not None:
            self._store_soon.cancel()
            self._store_soon = None
        return finished

    def _store_and_claim(self, finished):
        limit = self.pool.free()
        with self.Session() as session, session.begin():
            for claim, outcome in finished:
                self.work.record_outcome(session, claim, outcome, now())
            if not limit:
                return [], self.interval_seconds  # no room left: a finished send wakes us
            claims, due = self.work.claim_due(session, now(), limit)
        if len(claims) == limit or due is None:
            return claims, self.interval_seconds
        return claims, min(self.interval_seconds,
                           max(MIN_WAIT_SECONDS, (due - now()).total_seconds()))

    def deliver_one(self, claim):
        try:
            outcome = self.work.deliver(claim)
            # appended after the send: the loop may swap the list while it is under way
            self._finished.append((claim, outcome))
        finally:
            # this send still holds its place: none free means the loop claimed every place
            # and waits for one to claim more
            if not self.pool.free():
                self.wake_up()
            elif self._store_soon is None:
                self._store_soon = eventlet.spawn_after(STORE_WITHIN_SECONDS, self.wake_up)

    def _store_each(self, finished):
        for claim, outcome in finished:
            try:
                with self.Session() as session, session.begin():
                    self.work.record_outcome(session, claim, outcome, now())
            except Exception as exc:
                # The claim lapses and the item is tried again (maybe a second send: delivery
                # is at-least-once when the database fails right after a send).
                log.warning("%s %s: could not store its outcome: %s", self.name, claim.id, exc)

    def wake_up(self):
        self._wake.put(None)

    def wait(self, seconds):
        try:
            self._wake.get(timeout=seconds)
        except Empty:
            return
        while not self._wake.empty():  # one look serves every wake-up so far
            self._wake.get_nowait()

    def run_forever(self):
        run_rounds(self.one_round, f"{self.name} courier")

    # --- being woken by commits ---
    def listen_forever(self):
        run_rounds(self._hearing.one_round, f"{self.name} courier listening",
                   after_failure=self._hearing.close)

    def finish(self, grace=STOP_GRACE_SECONDS):
        """Let sends under way finish (and store their outcome), up to `grace` seconds."""
        with eventlet.Timeout(grace, False):
            self.pool.waitall()
        for thread in list(self.pool.coroutines_running):
            thread.kill()
        self._store_each(self._take_finished())

    def close(self):
        self._hearing.close()
        self.Session.kw["bind"].dispose()


class CourierProvider(DependencyProvider):
    """Runs a courier in the service's process; subclasses build its work (`build_courier`)."""

    def setup(self):
        make_psycopg_cooperative()
        self.courier = self.build_courier(self.container.config,
                                          db_uri(self.container.config,
                                                 self.container.service_name))

    def build_courier(self, config, uri):
        raise NotImplementedError

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
