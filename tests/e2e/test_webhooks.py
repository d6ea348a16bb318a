"""Outbound webhooks through the whole system: an operator registers a CRM's endpoint over
HTTP, and booking events reach it signed; its delivery log is in the API."""
import json
import uuid

import pytest

from tests.amqp import wait_until
from tests.e2e.test_booking_api import body
from tests.e2e.test_booking_api import hall, operator  # noqa: F401 -- fixtures
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


def register(api, receiver, **extra):
    answer = api.post("/api/webhooks/endpoints", admin=True, headers={
        "Idempotency-Key": str(uuid.uuid4())}, json={
        "url": receiver.url + "/crm", "event_types": ["booking.*"], **extra})
    assert answer.status_code == 201, answer.text
    endpoint = answer.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def test_a_crm_endpoint_receives_booking_events_signed_after_retries(api, hall, receiver):
    endpoint = register(api, receiver, description="CRM")
    receiver.answer_next(500)                       # the CRM stumbles once
    booking = api.post("/api/bookings", json=body(hall, "10:00", "11:00")).json()

    def created():
        return [r for r in receiver.delivered()
                if json.loads(r["body"])["payload"].get("booking_id") == booking["id"]]
    assert wait_until(created, 20)
    [request] = created()
    event = json.loads(request["body"])
    assert event["type"] == "booking.created" and "customer" not in event["payload"]
    assert request["headers"]["webhook-id"] == event["event_id"]

    def logged():
        log = api.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries",
                      admin=True).json()
        return [d for d in log["items"]
                if d["event_id"] == event["event_id"] and d["status"] == "delivered"]
    [delivery] = wait_until(logged, 10)
    assert delivery["attempts"] == 2 and delivery["last_status_code"] == 200
    listed = api.get("/api/webhooks/endpoints", admin=True).json()
    assert [e for e in listed if e["id"] == endpoint["id"]][0]["description"] == "CRM"
    assert all("secret" not in e for e in listed)

    resent = api.post(f"/api/webhooks/deliveries/{delivery['id']}/resend", admin=True)
    assert resent.status_code == 200
    assert wait_until(lambda: len(created()) == 2, 20)
    api.request("PATCH", f"/api/webhooks/endpoints/{endpoint['id']}", admin=True,
                json={"active": False})


def test_webhook_endpoints_are_for_operators_and_checked(api, receiver):
    assert api.get("/api/webhooks/endpoints").status_code == 401
    refused = api.post("/api/webhooks/endpoints", admin=True, json={
        "url": "https://10.0.0.1/hooks", "event_types": ["booking.*"]})
    assert refused.status_code == 422 and "url" in refused.json()["details"]
    endpoint = register(api, receiver)
    rotated = api.post(f"/api/webhooks/endpoints/{endpoint['id']}/rotate-secret", admin=True,
                       json={"overlap_hours": 1})
    assert rotated.status_code == 200 and rotated.json()["secret"] != endpoint["secret"]
    assert api.get("/api/webhooks/endpoints/999999", admin=True).status_code == 404
    api.request("PATCH", f"/api/webhooks/endpoints/{endpoint['id']}", admin=True,
                json={"active": False})
