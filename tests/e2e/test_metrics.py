"""Prometheus metrics of every process after a paid booking: each hop moved by what it did."""
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.common.metrics import PORT_OFFSETS
from tests.amqp import stays_true, wait_until
from tests.conftest import TEST_ENV
from tests.e2e.test_booking_api import body

BACKEND = ("booking", "payments", "integration", "notifications")


def scrape(api, name):
    """{(sample name, frozen labels): value} of one process."""
    if name == "gateway":
        answer = api.get("/metrics", headers={
            "Authorization": f"Bearer {TEST_ENV['METRICS_TOKEN']}"})
    else:
        port = int(TEST_ENV["METRICS_PORT"]) + PORT_OFFSETS[name]
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert answer.status_code == 200, (name, answer.text[:200])
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


def value(samples, name, **labels):
    return sum(v for (sample, have), v in samples.items()
               if sample == name and set(labels.items()) <= have)


def scrape_all(api):
    return {name: scrape(api, name) for name in ("gateway", *BACKEND)}


def test_a_paid_booking_shows_at_every_hop(api, hall, payer, operator):
    before = scrape_all(api)
    created = api.post("/api/bookings", json=body(hall, "10:00", "12:00"))
    booking = created.json()
    payment = payer.start(booking)
    wait_until(lambda: api.get(f"/api/bookings/{booking['id']}", token=booking[
        "access_token"]).json()["status"] == "confirmed")

    def moved(name, sample, **labels):
        return value(scrape(api, name), sample, **labels) - value(before[name], sample,
                                                                     **labels)

    # the gateway: the request, and its RPC to booking
    assert moved("gateway", "studio_http_requests_total", route="/api/bookings",
                 method="POST", status="201") == 1
    assert moved("gateway", "studio_rpc_client_calls_total", service="booking",
                 method="create_booking", outcome="ok") == 1
    assert moved("booking", "studio_rpc_server_calls_total", method="create_booking",
                 outcome="ok") >= 1
    # events: published by booking and payments, handled by integration and notifications
    assert wait_until(lambda: moved("booking", "studio_events_published_total",
                                    type="booking.confirmed") >= 1)
    assert moved("booking", "studio_events_published_total", type="booking.created") >= 1
    assert moved("payments", "studio_events_published_total", type="payment.succeeded") >= 1
    assert moved("payments", "studio_payments_total", gateway="mock",
                 outcome="succeeded") >= 1
    assert moved("payments", "studio_takings_kopecks_total") >= payment["amount"]
    assert moved("integration", "studio_events_handled_total", handler="payment_succeeded",
                 outcome="done") >= 1
    assert wait_until(lambda: moved("integration", "studio_events_handled_total",
                                    handler="log_events", type="booking.confirmed",
                                    outcome="done") >= 1)
    assert wait_until(lambda: moved("notifications", "studio_events_handled_total",
                                    handler="record_booking_messages",
                                    type="booking.confirmed", outcome="done") >= 1)
    assert wait_until(lambda: moved("notifications", "studio_notifications_total",
                                    outcome="sent") >= 1)
    # the database's side: an outbox that drains, and the inbox's counts
    for name in BACKEND:
        samples = scrape(api, name)
        assert ("studio_inbox_events", frozenset({("service", name), ("status", "dead")})) \
            in samples
    assert stays_true(lambda: value(scrape(api, "booking"), "studio_outbox_lag_seconds") < 30,
                      1)


def test_the_gateway_metrics_need_the_token(api):
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
