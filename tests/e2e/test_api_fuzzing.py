"""Every input the OpenAPI document admits gets a 2xx or a clear 4xx, and every answer matches
the document: schemathesis over the gateway of the test system, every operation, as an
operator (so nothing is refused before it reaches the services)."""
import json
import os
import random
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.amqp import wait_until
from tests.conftest import ADMIN_TOKEN

# starting a payment as the payments tests do (`booking` is in tests/e2e/conftest.py)
from tests.e2e.test_payments_api import start_payment

MAX_EXAMPLES = 30   # per operation: the whole run stays near a minute on this machine


@pytest.fixture
def known_objects(api, booking):
    """A hall, a booking, its payment and an event that exist, so that half the generated
    requests reach real objects instead of stopping at 404."""
    payment = start_payment(api, booking, gateway="mock")
    events = []
    assert wait_until(lambda: events.extend(api.get(
        f"/api/integrations/bookings/{booking['id']}/events", admin=True).json()["items"])
        or events, seconds=15)
    return {"hall_id": [booking["hall_id"]], "booking_id": [booking["id"]],
            "payment_id": [payment["id"]], "event_id": [events[0]["event_id"]]}


def schemathesis_config(known_objects):
    """schemathesis.toml: each known object is used for its parameter half of the time (path
    parameters are strings in the document, query ones keep their type)."""
    lines = []
    for name, values in known_objects.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}",
                  f"[dictionaries.{name}_text]", f"values = {json.dumps(list(map(str, values)))}"]
    lines.append("[parameters]")
    for name in known_objects:
        lines += [f'"query.{name}" = {{ dictionary = "{name}", probability = 0.5 }}',
                  f'"path.{name}" = {{ dictionary = "{name}_text", probability = 0.5 }}']
    return "\n".join(lines) + "\n"


@pytest.fixture
def sign_in_failures_forgotten(databases):
    """The fuzzer's failed sign-ins lock 127.0.0.1 out of the dashboard for the window (as
    they should): forget them afterwards, so the tests that sign in later are not locked out."""
    engine = create_engine(databases["integration"])
    with engine.connect() as conn:
        started = conn.execute(text("SELECT now()")).scalar()
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE action = 'sign_in' AND outcome <> 'ok' "
                          "AND at >= :started"), {"started": started})
    engine.dispose()


def test_no_input_the_schema_admits_makes_the_api_fail_or_break_its_schema(
        api, tmp_path, known_objects, sign_in_failures_forgotten):
    seed = os.environ.get("SCHEMATHESIS_SEED") or str(random.randrange(2**32))
    schemathesis = os.path.join(os.path.dirname(sys.executable), "st")
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(known_objects))
    run = subprocess.run(
        [schemathesis, "--config-file", str(config), "run", f"{api.base_url}/api/openapi.json",
         "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
         "--checks", "not_a_server_error,response_schema_conformance",
         "--max-examples", str(MAX_EXAMPLES), "--seed", seed,
         # one worker: CPython 3.11.7's ast.parse is not thread-safe ("AST constructor
         # recursion depth mismatch" inside hypothesis when two workers generate at once)
         "--workers", "1",
         # Server-Sent Events never end: a stream is not a request/answer to fuzz
         "--exclude-path-regex", r"^/api/(bookings/[^/]+/events|admin/live)$",
         "--request-timeout", "20"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)  # its .hypothesis/ there
    assert run.returncode == 0, (f"schemathesis found failures (again with "
                                 f"SCHEMATHESIS_SEED={seed}):\n{run.stdout[-8000:]}{run.stderr}")


def test_dates_outside_the_studio_years_and_impossible_offsets_are_422(api):
    for path in ["/api/bookings/availability?hall_id=1&start_date=0001-01-01&end_date=2000-01-01",
                 "/api/bookings/quote?hall_id=1&start=9999-12-31T10:00&end=9999-12-31T11:00",
                 "/api/integrations/events?since=0296-09-14T23:20:39-19:14",
                 "/api/integrations/events?since=2026-09-14T23:20:39%2B22:45"]:
        answer = api.get(path, admin=True)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"] == "validation_error"


def test_the_openapi_document_states_the_limits(api):
    spec = api.get("/api/openapi.json").json()
    availability = spec["paths"]["/api/bookings/availability"]["get"]["parameters"]
    start_date = next(p for p in availability if p["name"] == "start_date")
    assert "between 2000-01-01 and 2100-12-31" in start_date["description"]
    hall_id = next(p for p in availability if p["name"] == "hall_id")
    assert hall_id["schema"]["maximum"] == 2**31 - 1


def test_a_nul_character_in_any_field_is_422_and_changes_nothing(api, hall):
    answer = api.request("PATCH", f"/api/admin/halls/{hall['id']}", admin=True,
                         json={"description": "ok\u0000then"})
    assert answer.status_code == 422, answer.text
    assert "description" in answer.json()["details"]
    [listed] = [h for h in api.get("/api/admin/halls", admin=True).json()
                if h["id"] == hall["id"]]
    assert listed["description"] == "for tests"


@pytest.mark.parametrize("body, field", [
    ('{"description": "half a pair \\ud818"}', "description"),
    ('{"opening_hours": {"mon": {"a\\u0000b": 1}}}', "opening_hours.mon.a\\u0000b"),
    ('{"opening_hours": {"\\udc00x": ["09:00", "18:00"]}}', "opening_hours.\\udc00x"),
])
def test_text_postgresql_cannot_store_is_422_in_values_and_keys(api, hall, body, field):
    answer = api.request("PATCH", f"/api/admin/halls/{hall['id']}", admin=True, data=body,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["details"]


def test_a_lone_surrogate_in_a_customers_booking_is_422(api, hall):
    answer = api.request("POST", "/api/bookings", data=(
        '{"hall_id": %d, "start": "2030-01-10T12:00", "end": "2030-01-10T13:00", '
        '"customer": {"name": "\\ud800", "phone": "+7 916 000-11-22"}}' % hall["id"]),
        headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert "customer.name" in answer.json()["details"]
