"""One id through every hop: a request's X-Request-ID comes back in its answer and travels in
the envelope (`correlation_id`) of every event it causes, across the four services; the
integration log answers a whole chain by it; and no secret of a paid flow reaches a log."""
import glob
import os
import uuid

from services.payments.providers.mock import PAYING_CARD
from tests.amqp import wait_until
from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_booking_api import body


def chain(operator, correlation_id):
    return operator.integration.list_events(correlation_id=correlation_id, limit=100)["items"]


def test_a_request_id_ties_a_booking_its_payment_and_its_messages_together(
        api, hall, payer, operator, system, config):
    request_id = f"crm-{uuid.uuid4().hex[:12]}"
    created = api.post("/api/bookings", json=body(hall, "10:00", "12:00"),
                       headers={"X-Request-ID": request_id})
    assert created.status_code == 201 and created.headers["X-Request-ID"] == request_id
    booking = created.json()
    logged = wait_until(lambda: [e for e in chain(operator, request_id)
                                 if e["type"] == "booking.created"])
    assert logged[0]["booking_id"] == booking["id"]
    # the hold's message to the customer belongs to the same chain
    assert wait_until(lambda: "notification.sent" in {
        e["type"] for e in chain(operator, request_id)})

    # the provider's webhook starts a chain of its own: the payment, the confirmation and
    # the customer's messages all carry its id
    payer.start(booking)
    succeeded = wait_until(lambda: operator.integration.list_events(
        type="payment.succeeded", booking_id=booking["id"])["items"])[0]
    webhook_id = succeeded["correlation_id"]
    assert webhook_id and webhook_id != request_id

    def types():
        return {e["type"] for e in chain(operator, webhook_id)}
    assert wait_until(lambda: {"payment.succeeded", "booking.confirmed",
                               "notification.sent"} <= types(), 30), types()
    assert all(e["booking_id"] in (booking["id"], None) for e in chain(operator, webhook_id))

    # an operator's cancellation: the event and the refund it drives share its id
    cancel_id = f"desk-{uuid.uuid4().hex[:12]}"
    cancelled = api.delete(f"/api/bookings/{booking['id']}", admin=True,
                           headers={"X-Request-ID": cancel_id})
    assert cancelled.status_code == 200 and cancelled.headers["X-Request-ID"] == cancel_id
    assert wait_until(lambda: {"booking.cancelled", "payment.refunded"} <= {
        e["type"] for e in chain(operator, cancel_id)}, 30)

    # an error names the request too
    missing = api.get(f"/api/bookings/{uuid.uuid4()}", admin=True,
                      headers={"X-Request-ID": "lost-1"})
    assert missing.status_code == 404 and missing.json()["details"]["request_id"] == "lost-1"

    # no secret of this flow in any process's log
    logs = "".join(open(path, errors="replace").read()
                   for path in glob.glob(os.path.join(system.log_dir, "*.log")))
    assert logs, "the processes' logs"
    secrets = {"admin token": ADMIN_TOKEN, "booking token": booking["access_token"],
               "card number": PAYING_CARD,
               "mock webhook secret": config["PAYMENTS"]["providers"]["mock"]["webhook_secret"],
               "Authorization header": f"Bearer {ADMIN_TOKEN}"}
    leaked = [name for name, secret in secrets.items() if secret and secret in logs]
    assert leaked == []
