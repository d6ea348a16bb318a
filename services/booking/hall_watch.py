"""HallWatch: this process hears every change of a hall (migration 0007's NOTIFY), so its
parsed halls (store.halls) are used without a read of the hall's stamp on every booking,
quote and availability.

Whenever the listening connection is not known to be up (starting, lost, reconnecting), the
halls are checked by their stamp as before: a change is never missed, only the saving is."""
from nameko.extensions import DependencyProvider

from services.booking import store
from services.common.config import db_uri, setting_is_true
from services.common.db import Hearing, make_psycopg_cooperative
from services.common.loops import run_rounds

CHANNEL = "booking_halls"
# How long the listener waits before it asks its connection whether it is still there.
CHECK_SECONDS = 30.0


class HallWatcher:
    def __init__(self, uri, halls=store.halls):
        self.halls = halls
        # Listening starts the watch (what was kept before may have missed a change); each
        # change heard drops the kept halls.
        self.hearing = Hearing(uri, CHANNEL, heard=halls.changed,
                               listening=lambda: halls.watch(True), check_seconds=CHECK_SECONDS)

    def stop_listening(self):
        self.halls.watch(False)
        self.hearing.close()

    def run_forever(self):
        # while not listening, the halls are checked by their stamp on every use
        run_rounds(self.hearing.one_round, "hall changes not heard",
                   after_failure=self.stop_listening)


class HallWatch(DependencyProvider):
    """Declare it on the booking service to keep its parsed halls without asking."""

    def setup(self):
        make_psycopg_cooperative()
        settings = self.container.config["BOOKING"]
        self.on = setting_is_true(settings.get("hall_watch", True))
        store.halls.trust_seconds = float(settings.get("hall_watch_trust_seconds", 30))
        self.watcher = HallWatcher(db_uri(self.container.config, self.container.service_name))
        self._thread = None

    def start(self):
        if self.on:
            self._thread = self.container.spawn_managed_thread(self.watcher.run_forever)

    def stop(self):
        if self._thread is not None:
            self._thread.kill()
        self.watcher.stop_listening()

    kill = stop
