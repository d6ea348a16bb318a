"""The loop of a background green thread (the outbox relay, the couriers, the listeners, a
batched consumer): one round after another, and after a failing round a pause that doubles
from 0.4 s up to 10 s, so a database or broker that is away is not hammered."""
import logging

import eventlet

log = logging.getLogger(__name__)


def backoff_seconds(failures):
    return min(10.0, 0.2 * 2 ** failures)


def run_rounds(one_round, what, after_failure=None, running=lambda: True):
    """Call `one_round()` while `running()`; when it raises, log a warning naming `what`, call
    `after_failure()` (close what may be broken) and pause before the next round."""
    failures = 0
    while running():
        try:
            one_round()
            failures = 0
        except Exception as exc:
            failures += 1
            delay = backoff_seconds(failures)
            log.warning("%s: %s; again in %.1f s", what, exc, delay)
            if after_failure is not None:
                after_failure()
            eventlet.sleep(delay)
