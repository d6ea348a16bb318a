"""A reaction whose call to another service fails: the inbox keeps the event and tries again
with backoff, the integration log shows each failure, and after the last try the event waits,
dead, for an operator's retry_event. Booking and integration run as they do in production;
payments is a stand-in that can be told to fail (tests/integration/fake_payments_service.py),
all in a vhost and databases of their own."""
import os
import tempfile
import uuid

import pytest
import yaml

from scripts.system import System, rabbitmqctl
from services.common.migrate import drop_database, upgrade
from contracts.errors.integration import EventNotFound, EventNotRetryable
from tests.amqp import rpc_client, wait_until
from tests.conftest import VHOST
from tests.integration.integration_flow import customer, hour_slots

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.5


@pytest.fixture(scope="module")
def subsystem(config):
    vhost = f"{VHOST}_retries"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    uris = {}
    for name in ("booking", "integration"):
        base, _ = config["DB_URIS"][f"{name}:Base"].rsplit("_", 1)
        uris[f"{name}:Base"] = f"{base}_retries_{name}"
        upgrade(name, uris[f"{name}:Base"])
    amqp_uri = config["AMQP_URI"].rsplit("/", 1)[0] + "/" + vhost
    workdir = tempfile.mkdtemp(prefix="integration-retries-")
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump({**config, "AMQP_URI": amqp_uri, "DB_URIS": uris, "RELIABILITY": {
            **config["RELIABILITY"], "inbox_max_attempts": MAX_ATTEMPTS,
            "inbox_backoff_base_seconds": BACKOFF_BASE}}, f)
    system = System(config=config_path, log_dir=workdir, services={
        "booking": "services.booking.service:BookingService",
        "integration": "services.integration.service:IntegrationService",
        "payments": "tests.integration.fake_payments_service:FakePaymentsService"})
    system.start_all()
    try:
        with rpc_client(amqp_uri) as rpc:
            assert wait_until(lambda: _all_answer(rpc), 40), system._log_tails(system.names)
            yield rpc
    finally:
        system.stop_all()
        for uri in uris.values():
            drop_database(uri)
        rabbitmqctl("delete_vhost", vhost)


def _all_answer(rpc):
    try:
        return all(getattr(rpc, name).ping() == "pong"
                   for name in ("booking", "integration", "payments"))
    except Exception:
        return False


@pytest.fixture
def fake_payments(subsystem):
    subsystem.payments.heal()
    yield subsystem.payments
    subsystem.payments.heal()


def cancelled_paid_booking(rpc, slot_index):
    """A booking paid at the desk, then cancelled by the operator: its booking.cancelled
    carries refund_due = everything paid."""
    hall = rpc.booking.create_hall({"name": f"Retry hall {uuid.uuid4()}", "capacity": 4,
                                    "buffer_minutes": 0,
                                    "tariff": {"hourly_price": 100000, "rules": []}})
    start, end = list(hour_slots(slot_index + 1, weeks_ahead=4))[slot_index]
    booking = rpc.booking.create_booking({"hall_id": hall["id"], "start": start, "end": end,
                                          "customer": customer(slot_index)})
    rpc.booking.confirm_at_desk(booking["id"])
    return rpc.booking.cancel_booking(booking["id"], by="operator")


def cancellation(rpc, booking_id, status=None):
    def find():
        items = rpc.integration.list_events(booking_id=booking_id, type="booking.cancelled")
        found = items["items"][0] if items["items"] else None
        return found if found and (status is None or found["status"] == status) else None
    return find


def calls_for(rpc, request_id):
    recorded = rpc.payments.recorded()
    return ([c for c in recorded["calls"] if c["request_id"] == request_id],
            [r for r in recorded["refunds"].values() if r["request_id"] == request_id])


def test_a_refund_that_fails_twice_is_retried_with_backoff_and_made_once(
        subsystem, fake_payments):
    fake_payments.fail("refund_booking", 2)
    booking = cancelled_paid_booking(subsystem, 0)
    failed = wait_until(cancellation(subsystem, booking["id"], "failed"), 20, 0.05)
    assert failed, "the failure never showed in the log"
    assert failed["reaction"] == "refund_booking"
    assert "PaymentProviderFailed" in failed["outcome"] and "told to fail" in failed["outcome"]
    done = wait_until(cancellation(subsystem, booking["id"], "done"), 20)
    assert done and done["attempts"] == 3
    assert done["outcome"] == f"{booking['price_total']} of {booking['price_total']} " \
                              f"kopecks refunded"
    calls, refunds = calls_for(subsystem, done["event_id"])
    gaps = [round(b["at"] - a["at"], 2) for a, b in zip(calls, calls[1:])]
    print(f"refund_booking: expected 3 calls and 1 refund, seen {len(calls)} calls "
          f"{gaps} s apart and {len(refunds)} refund")
    assert len(calls) == 3 and len(refunds) == 1
    assert gaps[0] >= BACKOFF_BASE * 0.9 and gaps[1] >= 2 * BACKOFF_BASE * 0.9
    assert calls[0]["booking_id"] == booking["id"]
    assert calls[0]["amount"] == booking["price_total"]


def test_an_event_failing_every_try_waits_dead_until_an_operator_retries_it(
        subsystem, fake_payments):
    fake_payments.fail("refund_booking")
    booking = cancelled_paid_booking(subsystem, 1)
    dead = wait_until(cancellation(subsystem, booking["id"], "dead"), 30)
    assert dead and dead["attempts"] == MAX_ATTEMPTS
    assert "given up after the last try" in dead["outcome"]
    listed = subsystem.integration.list_events(status="dead")["items"]
    assert dead["event_id"] in [i["event_id"] for i in listed]
    assert dead["event_id"] in [e["event_id"] for e in subsystem.integration.list_dead_events()]

    again = subsystem.integration.retry_event(dead["event_id"])
    assert again["status"] == "dead" and again["attempts"] == MAX_ATTEMPTS + 1

    fake_payments.heal()
    retried = subsystem.integration.retry_event(dead["event_id"])
    assert retried["status"] == "done" and retried["reaction"] == "refund_booking"
    assert subsystem.integration.list_dead_events() == []
    calls, refunds = calls_for(subsystem, dead["event_id"])
    print(f"dead then retried: expected {MAX_ATTEMPTS + 2} calls and 1 refund, "
          f"seen {len(calls)} calls and {len(refunds)} refund")
    assert len(calls) == MAX_ATTEMPTS + 2 and len(refunds) == 1

    with pytest.raises(EventNotRetryable):
        subsystem.integration.retry_event(dead["event_id"])
    with pytest.raises(EventNotFound):
        subsystem.integration.retry_event("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
