"""The courier's rounds (services.common.courier): a finished send's outcome waits for the next
round, which stores it in the same transaction as the next claim, unless the send frees the only
place and the loop must claim again now."""
import eventlet

from services.common import courier as courier_module
from services.common.courier import Courier


class Work:
    """Claims what it is given, sends at once, and logs each step with its transaction."""
    wake_channel = "test_courier_rounds"

    def __init__(self):
        self.due, self.log = [], []

    def claim_due(self, session, now, limit):
        claims, self.due = self.due[:limit], self.due[limit:]
        self.log.append(("claim", id(session), claims))
        return claims, None

    def deliver(self, claim):
        return f"sent {claim}"

    def record_outcome(self, session, claim, outcome, now):
        self.log.append(("store", id(session), claim))


def make_courier(databases, concurrency):
    courier = Courier(databases["notifications"], Work(), "test", concurrency=concurrency)
    courier.wait = lambda seconds: eventlet.sleep(0)  # the test drives the rounds: no waiting
    return courier


def woken(courier):
    return not courier._wake.empty()


def test_an_outcome_is_stored_with_the_next_claim_in_one_transaction(databases):
    courier = make_courier(databases, concurrency=10)
    try:
        courier.work.due = ["a"]
        courier.one_round()                      # claims a, which is sent at once
        assert courier._finished == [("a", "sent a")]
        assert not woken(courier)                # no round of its own for storing it...
        assert courier._store_soon is not None   # ...but one within STORE_WITHIN_SECONDS
        courier.work.due = ["b"]
        courier.one_round()
        (_, first, _), (store, second, stored), (claim, third, claimed) = courier.work.log
        assert (store, stored, claim, claimed) == ("store", "a", "claim", ["b"])
        assert second == third != first          # one transaction stored a and claimed b
    finally:
        courier.close()


def test_an_outcome_left_alone_is_stored_soon_after(databases, monkeypatch):
    monkeypatch.setattr(courier_module, "STORE_WITHIN_SECONDS", 0.01)
    courier = make_courier(databases, concurrency=10)
    try:
        courier.work.due = ["a"]
        courier.one_round()
        eventlet.sleep(0.05)
        assert woken(courier)
    finally:
        courier.close()


def test_a_send_that_frees_the_only_place_wakes_the_loop_at_once(databases):
    courier = make_courier(databases, concurrency=1)
    try:
        courier.work.due = ["a", "b"]
        courier.one_round()                      # a takes the only place
        assert woken(courier) and courier._store_soon is None
    finally:
        courier.close()
