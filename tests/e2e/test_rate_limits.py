"""Rate limits per client IP on the public endpoints, shared by every gateway process through
Redis; operators are not limited; without Redis requests pass."""
import logging
import tempfile
import time
from datetime import date, timedelta

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.rate_limits import RateLimits
from scripts.system import System, free_port
from tests.amqp import rpc_client
from tests.conftest import ADMIN_TOKEN, RUN_ID

LIMIT = 5
WINDOW_SECONDS = 10
PREFIX = f"studio_test_{RUN_ID}_limits"


@pytest.fixture(scope="module")
def hall(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        return rpc.booking.create_hall({"name": f"Limits hall {RUN_ID}", "capacity": 4,
                                        "buffer_minutes": 0,
                                        "tariff": {"hourly_price": 100000, "rules": []}})


@pytest.fixture(scope="module")
def two_gateways(system, hall):
    """Two more gateway processes beside the test system's, with a small quote limit, trusting
    127.0.0.1 as their proxy so each test can be a client of its own (X-Forwarded-For)."""
    env = {"RATE_LIMIT_QUOTE": f"{LIMIT} per {WINDOW_SECONDS} seconds",
           "RATE_LIMIT_KEY_PREFIX": PREFIX, "TRUSTED_PROXIES": "127.0.0.1"}
    log_dir = tempfile.mkdtemp(prefix="studio-test-limits-")
    gateways = [System(env={**env, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"},
                       log_dir=log_dir, names=["gateway"]) for _ in range(2)]
    try:
        for gateway in gateways:
            gateway.start_all()
        for gateway in gateways:
            gateway.wait_healthy(timeout=60)
        yield [(gateway.base_url, hall["id"]) for gateway in gateways]
    finally:
        for gateway in gateways:
            gateway.stop_all()
        RateLimits(limits_settings(PREFIX)).storage.reset()  # this run's keys only


def limits_settings(prefix, storage_url="redis://127.0.0.1:6379/0"):
    return {"storage_url": storage_url, "key_prefix": prefix,
            "per_client_ip": {"quote": f"{LIMIT}/minute"}}


def quote(gateway, client, token=None):
    base_url, hall_id = gateway
    day = date.today() + timedelta(days=7)
    headers = {"X-Forwarded-For": client}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(f"{base_url}/api/bookings/quote", headers=headers, timeout=30, params={
        "hall_id": hall_id, "start": f"{day}T10:00", "end": f"{day}T12:00"})


def test_a_burst_past_the_limit_is_429_with_its_headers_and_the_limit_resets(two_gateways):
    first, _ = two_gateways
    answers = [quote(first, "203.0.113.10") for _ in range(LIMIT)]
    assert [a.status_code for a in answers] == [200] * LIMIT
    assert [a.headers["RateLimit-Remaining"] for a in answers] == [
        str(n) for n in range(LIMIT - 1, -1, -1)]
    assert all(a.headers["RateLimit-Limit"] == str(LIMIT) for a in answers)

    refused = quote(first, "203.0.113.10")
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(refused.headers["RateLimit-Reset"]) <= WINDOW_SECONDS
    assert quote(first, "203.0.113.11").status_code == 200   # another client is not affected

    time.sleep(retry_after + 0.5)
    again = quote(first, "203.0.113.10")
    assert again.status_code == 200 and again.headers["RateLimit-Remaining"] == str(LIMIT - 1)


def test_two_gateway_processes_share_the_count(two_gateways):
    first, second = two_gateways
    statuses = [quote(gateway, "203.0.113.20").status_code
                for gateway in [first, second] * LIMIT][:LIMIT + 1]
    assert statuses == [200] * LIMIT + [429]


def test_operators_are_not_limited(two_gateways):
    first, _ = two_gateways
    statuses = {quote(first, "203.0.113.30", token=ADMIN_TOKEN).status_code
                for _ in range(LIMIT + 3)}
    assert statuses == {200}


def test_the_openapi_document_tells_clients_of_the_429(api):
    spec = api.get("/api/openapi.json").json()
    for path, method in [("/api/bookings", "post"), ("/api/payments", "post"),
                         ("/api/bookings/quote", "get"), ("/api/bookings/availability", "get")]:
        responses = spec["paths"][path][method]["responses"]
        assert {"Retry-After", "RateLimit-Reset"} <= set(responses["429"]["headers"]), path


def test_without_redis_requests_pass_and_a_warning_is_logged(caplog):
    limits = RateLimits(limits_settings(PREFIX, f"redis://127.0.0.1:{free_port()}/0"))
    request = Request(EnvironBuilder(environ_base={"REMOTE_ADDR": "203.0.113.40"}).get_environ())
    with caplog.at_level(logging.WARNING, logger="gateway.rate_limits"):
        assert [limits.hit("quote", request) for _ in range(LIMIT + 2)] == [None] * (LIMIT + 2)
    assert len(caplog.records) == 1   # then quiet for storage_retry_seconds
    assert "rate limits not applied" in caplog.records[0].getMessage()


def test_a_windows_end_is_asked_of_redis_once_a_process_and_agrees_across_processes():
    settings = {**limits_settings(f"{PREFIX}_ends"), "per_client_ip": {"quote": "5 per 30 seconds"}}
    opener, other = RateLimits(settings), RateLimits(settings)
    asked = []
    for limits in (opener, other):
        def counted(key, limits=limits, ask=limits.storage.get_expiry):
            asked.append(limits)
            return ask(key)
        limits.storage.get_expiry = counted
    request = Request(EnvironBuilder(environ_base={"REMOTE_ADDR": "203.0.113.50"}).get_environ())
    try:
        first = opener.hit("quote", request)   # opens the window: nothing to ask
        time.sleep(1.2)
        later = [other.hit("quote", request), other.hit("quote", request),
                 opener.hit("quote", request)]
        assert asked == [other]   # the other process asked once, then remembered
        assert first.reset_seconds == 30
        assert all(27 <= allowance.reset_seconds <= 29 for allowance in later), later
        assert [a.remaining for a in [first, *later]] == [4, 3, 2, 1]
    finally:
        opener.storage.reset()
