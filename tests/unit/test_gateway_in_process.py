"""The gateway's own behaviour in this process, with nameko's testing tools: the services
behind it are replaced by mocks (`replace_dependencies`), requests come over real HTTP to the
container's web server. Auth, body limits and the one error table, without RabbitMQ or a
database; tests/e2e checks the same through the running system."""
import copy
import threading

import eventlet
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.events import EventHandler
from nameko.exceptions import RemoteError
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener
from nameko.testing.services import replace_dependencies
from nameko.testing.utils import find_free_port

from contracts.errors.base import ServiceUnavailable
from contracts.errors.booking import BookingNotFound, SlotTaken
from contracts.errors.payments import WebhookForged
from gateway.service import GatewayService
from services.common.config import load_config

ADMIN = "in-process-admin-token"
SERVICES = ("booking", "payments", "integration", "notifications")


@pytest.fixture(scope="module")
def address():
    return f"127.0.0.1:{find_free_port()}"


@pytest.fixture(scope="module")
def running_gateway(address):
    """The gateway's container with every RPC proxy a mock: {proxy name: mock}.

    The test process is not monkey-patched by eventlet (the suite's other tests use plain
    sockets), so the container runs its own eventlet hub in a thread of its own while the
    test's requests block in this one."""
    config = copy.deepcopy(load_config())  # every key the gateway reads, as config.yaml has it
    gateway_settings = config["GATEWAY"]
    gateway_settings.update(max_body_bytes=2048, rpc_timeout_seconds=1)
    # the rate limits count in this process: no Redis
    gateway_settings["rate_limits"] = {**gateway_settings["rate_limits"],
                                       "storage_url": "memory://"}
    # the test process's own objects are not the gateway's to freeze
    config.update(WEB_SERVER_ADDRESS=address, AMQP_URI="memory://", ADMIN_TOKEN=ADMIN,
                  FREEZE_STARTUP_HEAP=False)
    config["PAYMENTS"] = {**config["PAYMENTS"], "env": "mock"}
    container = ServiceContainer(GatewayService, config)
    health = [f"health_{name}" for name in SERVICES]
    mocks = dict(zip(SERVICES + tuple(health),
                     replace_dependencies(container, *SERVICES, *health)))
    # every proxy is a mock: nothing is left for an RPC reply consumer to listen for
    for extension in list(container.subextensions):
        if isinstance(extension, (ReplyListener, QueueConsumer)):
            container.subextensions.remove(extension)
    # nor for the live events' handlers (no broker here): left in, each would unregister from
    # the consumer that never started when the container stops, and nameko fails the second
    for entrypoint in list(container.entrypoints):
        if isinstance(entrypoint, EventHandler):
            container.entrypoints.remove(entrypoint)
    started, stop, failed = threading.Event(), threading.Event(), []

    def run():
        try:
            container.start()
        except Exception as exc:  # told to the test below
            failed.append(exc)
        started.set()
        while not stop.is_set():
            eventlet.sleep(0.02)
        container.stop()

    hub = threading.Thread(target=run, daemon=True)
    hub.start()
    if not started.wait(10) or failed:
        stop.set()
        hub.join(10)
        pytest.fail(f"the gateway did not start: {failed}")
    yield mocks
    stop.set()
    hub.join(10)


@pytest.fixture
def gateway(running_gateway):
    for mock in running_gateway.values():
        mock.reset_mock(return_value=True, side_effect=True)
    return running_gateway


class WebSession(requests.Session):
    def __init__(self, base_url):
        super().__init__()
        self.base_url = base_url

    def request(self, method, path, *args, **kwargs):
        return super().request(method, self.base_url + path, *args, **kwargs)


@pytest.fixture(scope="module")
def web_session(address):
    with WebSession(f"http://{address}") as session:
        yield session


def admin():
    return {"Authorization": f"Bearer {ADMIN}"}


def test_an_operator_endpoint_needs_the_token_and_refuses_another(gateway, web_session):
    assert web_session.get("/api/bookings").status_code == 401
    refused = web_session.get("/api/bookings", headers={"Authorization": "Bearer guess"})
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    gateway["booking"].list_bookings.assert_not_called()


def test_an_operator_with_the_token_gets_the_services_answer(gateway, web_session):
    gateway["booking"].list_bookings.return_value = {"items": [], "next_cursor": None}
    answer = web_session.get("/api/bookings?limit=5", headers=admin())
    assert answer.status_code == 200 and answer.json()["items"] == []
    assert gateway["booking"].list_bookings.call_args.kwargs["limit"] == 5


def test_a_body_over_the_limit_is_413_before_any_service_is_asked(gateway, web_session):
    answer = web_session.post("/api/bookings", data=b"{" + b" " * 4096 + b"}",
                              headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (413, "body_too_large")
    gateway["booking"].create_booking.assert_not_called()


def test_a_body_that_is_not_json_is_400_and_invalid_fields_are_422(gateway, web_session):
    malformed = web_session.post("/api/bookings", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed_request")
    invalid = web_session.post("/api/bookings", json={"hall_id": "x"})
    assert invalid.status_code == 422 and "hall_id" in invalid.json()["details"]
    gateway["booking"].create_booking.assert_not_called()


@pytest.mark.parametrize("error, status, code", [
    (BookingNotFound("There is no booking b1.", {"booking_id": "b1"}), 404, "booking_not_found"),
    (SlotTaken("The slot is taken.", {}), 409, "slot_taken"),
    (WebhookForged("Not genuine.", {}), 403, "webhook_forged"),
])
def test_a_service_error_is_answered_from_the_one_table(gateway, web_session, error, status,
                                                        code):
    gateway["booking"].get_booking.side_effect = error
    answer = web_session.get("/api/bookings/b1", headers=admin())
    assert answer.status_code == status
    request_id = answer.headers["X-Request-ID"]
    assert answer.json() == {"error": code, "message": error.message,
                             "details": {**error.details, "request_id": request_id}}


def test_a_service_that_did_not_answer_is_503_saying_a_retry_is_safe(gateway, web_session):
    gateway["booking"].get_booking.side_effect = ServiceUnavailable(
        "booking did not answer in time", {"service": "booking"})
    answer = web_session.get("/api/bookings/b1", headers=admin())
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.json() == {"error": "service_unavailable",
                             "message": "booking did not answer in time. Retrying is safe.",
                             "details": {"service": "booking", "retry_safe": True,
                                         "request_id": answer.headers["X-Request-ID"]}}


def test_a_callers_request_id_is_kept_when_well_formed_and_replaced_when_not(gateway,
                                                                             web_session):
    gateway["booking"].list_halls.return_value = []
    kept = web_session.get("/api/halls", headers={"X-Request-ID": "crm-7f3a.42"})
    assert kept.headers["X-Request-ID"] == "crm-7f3a.42"
    for bad in ("a b", "x" * 101, "<script>", ""):
        made = web_session.get("/api/halls", headers={"X-Request-ID": bad})
        assert made.headers["X-Request-ID"] != bad
        assert len(made.headers["X-Request-ID"]) == 32
    missing = web_session.get("/api/no-such-thing")
    assert missing.json()["details"]["request_id"] == missing.headers["X-Request-ID"]


def test_an_unexpected_error_is_a_500_without_its_insides(gateway, web_session):
    gateway["booking"].get_booking.side_effect = RemoteError("KeyError", "'secret_column'")
    answer = web_session.get("/api/bookings/b1", headers=admin())
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error" and "secret" not in answer.text


def test_an_unknown_route_is_a_json_404(gateway, web_session):
    answer = web_session.get("/api/nothing-here")
    assert (answer.status_code, answer.json()["error"]) == (404, "route_not_found")


def test_an_operators_change_enters_the_trail_before_it_is_made_and_its_outcome_after(
        gateway, web_session):
    steps = []
    gateway["integration"].record_action.side_effect = (
        lambda entry: steps.append(("trail", entry["action"], entry["outcome"])) or {"id": 7})
    gateway["booking"].cancel_booking.side_effect = (
        lambda *args, **kwargs: steps.append(("cancel",)) or {"id": "b1"})
    gateway["integration"].record_outcome.side_effect = (
        lambda *args: steps.append(("outcome", *args)))
    answer = web_session.delete("/api/bookings/b1", json={"reason": "flood"}, headers=admin())
    assert answer.status_code == 200, answer.text
    assert steps == [("trail", "cancel_booking", "pending"), ("cancel",),
                     ("outcome", 7, "ok", None)]


def test_a_change_the_trail_cannot_hold_is_not_made(gateway, web_session):
    gateway["integration"].record_action.side_effect = ServiceUnavailable(
        "integration did not answer in time", {"service": "integration"})
    answer = web_session.delete("/api/bookings/b1", json={}, headers=admin())
    assert answer.status_code == 503 and answer.json()["details"]["service"] == "integration"
    gateway["booking"].cancel_booking.assert_not_called()
    gateway["integration"].record_outcome.assert_not_called()


def test_a_refused_change_is_in_the_trail_with_the_refusal(gateway, web_session):
    gateway["integration"].record_action.return_value = {"id": 8}
    gateway["booking"].cancel_booking.side_effect = BookingNotFound(
        "There is no booking b1.", {"booking_id": "b1"})
    assert web_session.delete("/api/bookings/b1", json={}, headers=admin()).status_code == 404
    gateway["integration"].record_outcome.assert_called_once_with(8, "booking_not_found", None)
