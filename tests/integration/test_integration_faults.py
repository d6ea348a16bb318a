"""Faults against the real thing (RabbitMQ, PostgreSQL, every service its own process): every
event delivered twice, a service SIGKILLed mid-flow, database connections dropped under a
running service. Whatever happens, each paid booking is confirmed exactly once."""
import time

import pytest
from sqlalchemy import create_engine

from tests.amqp import EventWatcher, wait_until
from tests.conftest import VHOST
from tests.integration.integration_flow import (
    TEST_CLIENT,
    ConnectionKiller,
    book_many,
    confirmed_count,
    exactly_once_report,
    make_hall,
    publish,
    wait_for_quiet_queues,
)

SOURCES = ("booking", "payments", "notifications")


@pytest.fixture(scope="module")
def dbs(config):
    """The test's own read-only look into two services' databases (spared by ConnectionKiller,
    and connected up front, so a busy server cannot refuse it later)."""
    engines = {name: create_engine(config["DB_URIS"][f"{name}:Base"], pool_pre_ping=True,
                                   connect_args={"application_name": TEST_CLIENT})
               for name in ("booking", "integration")}
    for engine in engines.values():
        engine.connect().close()
    yield engines
    for engine in engines.values():
        engine.dispose()


def settle_exactly_once(dbs, bookings, payments, what, seconds=60):
    """Wait until every booking is confirmed once with its payment; print and compare."""
    ids = [b["id"] for b in bookings]
    wait_until(lambda: confirmed_count(dbs["booking"], ids) == len(ids), seconds, 0.2)
    expected, seen = exactly_once_report(dbs["booking"], dbs["integration"], bookings,
                                         payments)
    wait_until(lambda: exactly_once_report(dbs["booking"], dbs["integration"], bookings,
                                           payments)[1] == expected, 10, 0.2)
    expected, seen = exactly_once_report(dbs["booking"], dbs["integration"], bookings,
                                         payments)
    right = sum(1 for i in ids if seen[i] == expected[i])
    print(f"{what}: expected {len(ids)} bookings confirmed exactly once "
          f"(amount, payments applied, booking.confirmed emitted, logged), seen {right}; "
          f"confirmed {confirmed_count(dbs['booking'], ids)}")
    assert {i: seen[i] for i in ids if seen[i] != expected[i]} == {}


def snapshot(operator, dbs, bookings):
    """Everything a repeat must not change, per booking."""
    ids = [b["id"] for b in bookings]
    state = {}
    for booking_id in ids:
        booking = operator.booking.get_booking(booking_id)
        payments = operator.payments.list_payments(booking_id=booking_id)["items"]
        state[booking_id] = {
            "booking": (booking["status"], booking["amount_paid"]),
            "log": sorted((i["type"], i["status"]) for i in
                          operator.integration.booking_chain(booking_id)["items"]),
            "refunds": sorted((r["amount"], r["status"]) for p in payments
                              for r in p.get("refunds", [])),
            "notifications": len(_all_notifications(operator, booking_id)),
        }
    return state


def settled_snapshot(operator, dbs, bookings, seconds=30):
    """The snapshot once two reads in a row agree: the couriers and the relays have finished
    what they started."""
    last = []

    def unchanged():
        state = snapshot(operator, dbs, bookings)
        same = last == [state]
        last[:] = [state]
        return state if same else None

    return wait_until(unchanged, seconds, 0.5)


def _all_notifications(operator, booking_id):
    items, cursor = [], None
    while True:
        page = operator.notifications.list_notifications(booking_id=booking_id, cursor=cursor,
                                                         limit=200)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _totals(state):
    return {"confirmed": sum(s["booking"][0] == "confirmed" for s in state.values()),
            "cancelled": sum(s["booking"][0] == "cancelled" for s in state.values()),
            "log rows": sum(len(s["log"]) for s in state.values()),
            "refunds": sum(len(s["refunds"]) for s in state.values()),
            "notifications": sum(s["notifications"] for s in state.values())}


def test_every_event_delivered_twice_has_no_second_effect(api, operator, payer, config, dbs):
    watchers = [EventWatcher(config["AMQP_URI"], f"{source}.events") for source in SOURCES]
    try:
        bookings = book_many(api, make_hall(operator), 6)
        payments = [payer.start(b) for b in bookings]
        settle_exactly_once(dbs, bookings, payments, "before the repeats")
        for booking in bookings[:2]:
            assert api.delete(f"/api/bookings/{booking['id']}", admin=True).status_code == 200
        mine = {b["id"] for b in bookings}
        assert wait_until(lambda: sum(
            m["routing_key"] == "payment.refunded" for w in watchers for m in w.collect(0.2)
            if m["body"]["payload"].get("booking_id") in mine) >= 2, 30)
        assert wait_for_quiet_queues(VHOST)
        before = settled_snapshot(operator, dbs, bookings)
        for watcher in watchers:
            watcher.collect(0.3)
        envelopes = [m["body"] for w in watchers for m in w.seen
                     if (m["body"].get("payload") or {}).get("booking_id") in mine]
    finally:
        for watcher in watchers:
            watcher.close()

    publish(config["AMQP_URI"], envelopes)
    assert wait_for_quiet_queues(VHOST)
    after = settled_snapshot(operator, dbs, bookings)
    counts = {}
    for envelope in envelopes:
        counts[envelope["type"]] = counts.get(envelope["type"], 0) + 1
    print(f"delivered twice: {len(envelopes)} envelopes {counts}; expected {_totals(before)}, "
          f"seen {_totals(after)}")
    assert counts.get("payment.succeeded", 0) >= 6
    assert after == before


@pytest.mark.parametrize("victim", ["integration", "booking"])
def test_a_service_killed_mid_flow_confirms_every_payment_exactly_once(
        api, operator, payer, system, dbs, victim):
    bookings = book_many(api, make_hall(operator), 20)
    pending = [payer.create(b) for b in bookings]
    payments = [payer.pay(p) for p in pending[:10]]
    ids = [b["id"] for b in bookings]
    wait_until(lambda: confirmed_count(dbs["booking"], ids) >= 2, 10, 0.02)
    confirmed_at_kill = confirmed_count(dbs["booking"], ids)
    system.kill(victim)
    payments += [payer.pay(p) for p in pending[10:]]
    system.start(victim)
    print(f"SIGKILL {victim} with {confirmed_at_kill} of 20 confirmed")
    settle_exactly_once(dbs, bookings, payments, f"{victim} killed and restarted")
    assert wait_until(lambda: _answers(operator, victim), 20)


def _answers(operator, name):
    try:
        return getattr(operator, name).ping() == "pong"
    except Exception:
        return False


@pytest.fixture
def killer(config):
    killer = ConnectionKiller(config["DB_URIS"]["integration:Base"])
    yield killer
    killer.close()


def test_dropped_database_connections_are_survived_without_a_restart(
        api, operator, payer, system, dbs, config, killer):
    pids = {name: system.processes[name].pid for name in ("integration", "booking")}
    bookings = book_many(api, make_hall(operator), 20)
    pending = [payer.create(b) for b in bookings]
    payments = [payer.pay(p) for p in pending[:10]]
    dropped = {name: killer.drop(config["DB_URIS"][f"{name}:Base"])
               for name in ("integration", "booking")}
    payments += [payer.pay(p) for p in pending[10:]]
    time.sleep(0.3)
    dropped_again = killer.drop(config["DB_URIS"]["integration:Base"])
    print(f"pg_terminate_backend: {dropped} connections, then {dropped_again} of integration")
    settle_exactly_once(dbs, bookings, payments, "database connections dropped")
    assert {name: system.processes[name].pid for name in pids} == pids
    assert not system.died()
    assert operator.integration.list_events(limit=1)["items"]
