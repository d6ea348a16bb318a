"""The gateway's promises: JSON errors for everything, auth, limits, health, OpenAPI, and 503
(not a hang) when a service does not answer."""
import subprocess
import sys
import time

import pika
import pytest
import requests

from scripts.system import ROOT, System, free_port, rabbitmqctl
from tests.conftest import ADMIN_TOKEN


def test_malformed_json_is_400(api):
    answer = api.post("/api/bookings", data="{not json", headers={
        "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_request"


def test_an_invalid_field_is_422_naming_the_field(api):
    answer = api.post("/api/bookings", json={"hall_id": "one", "start": "tomorrow"})
    assert answer.status_code == 422
    details = answer.json()["details"]
    assert set(details) >= {"hall_id", "start", "end", "customer"}


def test_unknown_route_is_404_json(api):
    answer = api.get("/api/no-such-thing")
    assert answer.status_code == 404
    assert answer.json()["error"] == "route_not_found"


def test_oversized_body_is_413(api):
    answer = api.post("/api/bookings", data="x" * 200_000,
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"


def test_operator_endpoints_need_the_admin_token(api):
    assert api.get("/api/bookings").status_code == 401
    assert api.get("/api/bookings", token="guess").status_code == 403
    assert api.get("/api/bookings", headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert api.get("/api/bookings", admin=True).status_code == 200


def test_health_names_every_service(api):
    answer = api.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "services": {
        "booking": "ok", "payments": "ok", "integration": "ok", "notifications": "ok"}}


def test_health_of_one_service_pings_only_that_one(api):
    answer = api.get("/health/payments")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "services": {"payments": "ok"}}
    unknown = api.get("/health/billing")
    assert unknown.status_code == 404 and unknown.json()["details"]["service"] == "billing"


def test_the_containers_healthcheck_pings_one_service(system):
    def healthcheck(service):
        return subprocess.run([sys.executable, "-m", "scripts.healthcheck", service],
                              cwd=ROOT, capture_output=True, text=True, timeout=30)

    assert healthcheck("booking").returncode == 0
    assert healthcheck("gateway").returncode == 0
    unknown = healthcheck("billing")
    assert unknown.returncode == 1 and "billing" in unknown.stderr


def test_openapi_document_describes_every_route(api):
    spec = api.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/halls", "/api/bookings", "/api/bookings/{booking_id}",
                 "/api/bookings/availability", "/api/bookings/quote",
                 "/api/bookings/{booking_id}/confirm", "/health"):
        assert path in spec["paths"], path
    create = spec["paths"]["/api/bookings"]["post"]
    assert {"201", "400", "409", "422", "503"} <= set(create["responses"])


@pytest.fixture(scope="module")
def lonely_gateway(tmp_path_factory):
    """A gateway in a vhost of its own where nothing answers: booking's queue exists (as if
    the service were down) and the other services were never there."""
    vhost = f"studio_lonely_{free_port()}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    connection = pika.BlockingConnection(pika.URLParameters(amqp))
    channel = connection.channel()
    channel.exchange_declare("nameko-rpc", exchange_type="topic", durable=True)
    channel.queue_declare("rpc-booking", durable=True)
    channel.queue_bind("rpc-booking", "nameko-rpc", "booking.*")
    connection.close()
    address = f"127.0.0.1:{free_port()}"
    gateway = System(env={"AMQP_URI": amqp, "WEB_SERVER_ADDRESS": address, "RPC_TIMEOUT": "1",
                          "ADMIN_TOKEN": ADMIN_TOKEN},
                     log_dir=str(tmp_path_factory.mktemp("lonely")), names=["gateway"])
    gateway.start_all()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{address}/health", timeout=5)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield f"http://{address}"
    gateway.stop_all()
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def test_a_service_that_does_not_answer_gives_503_within_the_timeout(lonely_gateway):
    started = time.monotonic()
    answer = requests.get(lonely_gateway + "/api/halls", timeout=10)
    elapsed = time.monotonic() - started
    assert answer.status_code == 503 and answer.json()["error"] == "service_unavailable"
    assert answer.json()["details"] == {"service": "booking", "retry_safe": True,
                                        "request_id": answer.headers["X-Request-ID"]}
    assert int(answer.headers["Retry-After"]) > 0
    assert 0.9 <= elapsed < 3, elapsed


@pytest.mark.parametrize("key, safe", [("booking-7d1c", True), (None, False)])
def test_a_create_that_meets_a_silent_service_says_whether_a_retry_is_safe(lonely_gateway,
                                                                          key, safe):
    answer = requests.post(lonely_gateway + "/api/bookings", timeout=10, json={
        "hall_id": 1, "start": "2030-01-07T10:00", "end": "2030-01-07T12:00",
        "customer": {"name": "Ann", "phone": "+7 903 111-22-33"}},
        headers={"Idempotency-Key": key} if key else {})
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.json()["details"]["retry_safe"] is safe
    assert ("same Idempotency-Key" in answer.json()["message"]) is safe


def test_a_service_that_is_not_running_gives_503_at_once(lonely_gateway):
    started = time.monotonic()
    answer = requests.get(lonely_gateway + "/api/payments/123", timeout=10,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    elapsed = time.monotonic() - started
    # no payments queue at all in this vhost: the broker says so, no need to wait
    assert answer.status_code == 503
    assert answer.json()["details"] == {"service": "payments", "retry_safe": True,
                                        "request_id": answer.headers["X-Request-ID"]}
    assert elapsed < 0.9, elapsed


def test_health_is_503_naming_the_services_that_are_down(lonely_gateway):
    answer = requests.get(lonely_gateway + "/health", timeout=10)
    assert answer.status_code == 503
    assert answer.json()["services"] == {"booking": "unavailable", "payments": "unavailable",
                                         "integration": "unavailable",
                                         "notifications": "unavailable"}
    one = requests.get(lonely_gateway + "/health/booking", timeout=10)
    assert one.status_code == 503 and one.json()["services"] == {"booking": "unavailable"}
