"""Operators through the gateway: sign-in into a cookie session, roles, CSRF, the sign-in
limit, the audit trail, and that no admin endpoint opens without an operator."""
import re
import uuid

import pytest
import requests

from tests.amqp import rpc_client
from tests.conftest import ADMIN_TOKEN
from tests.integration.integration_flow import book, hour_slots, make_hall, release_holds

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def rpc(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


@pytest.fixture(scope="module")
def hall(rpc):
    return make_hall(rpc)


@pytest.fixture(scope="module")
def holds(rpc):
    booking_ids = []
    yield booking_ids
    release_holds(rpc, booking_ids)


class Browser:
    """A requests session that behaves like the dashboard's page: cookies, and the CSRF
    token echoed in a header on changes."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()
        self.csrf = None

    def sign_in(self, **credentials):
        answer = self.http.post(self.base_url + "/api/admin/session", json=credentials,
                                timeout=30)
        if answer.status_code == 200:
            self.csrf = answer.json()["csrf_token"]
        return answer

    def call(self, method, path, csrf=True, **kwargs):
        headers = kwargs.pop("headers", {})
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers["X-CSRF-Token"] = self.csrf
        return self.http.request(method, self.base_url + path, headers=headers, timeout=30,
                                 **kwargs)


def operator(system, api, role):
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    made = api.post("/api/admin/operators", admin=True,
                    json={"name": name, "password": PASSWORD, "role": role})
    assert made.status_code == 201, made.text
    browser = Browser(system.base_url)
    assert browser.sign_in(name=name, password=PASSWORD).status_code == 200
    return name, browser


def admin_operations(api):
    """(method, path) of every endpoint the OpenAPI document says needs an operator."""
    spec = api.get("/api/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if op.get("security") and {"booking": []} not in op["security"]:
                # "1" fits every path parameter (int or text): authorization comes first
                yield method.upper(), re.sub(r"{[a-z_]+}", "1", path)


def test_no_admin_endpoint_opens_without_an_operator_nor_with_a_booking_token(api, hall,
                                                                              holds):
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=7)))
    holds.append(booking["id"])
    operations = list(admin_operations(api))
    assert ("POST", "/api/admin/operators") in operations and len(operations) > 10
    for method, path in operations:
        nobody = api.request(method, path, json={})
        assert nobody.status_code == 401, (method, path, nobody.text)
        customer = api.request(method, path, token=booking["access_token"], json={})
        assert customer.status_code == 403, (method, path, customer.text)


def test_sign_in_sets_an_httponly_strict_cookie_and_no_token_in_the_answer(system, api):
    browser = Browser(system.base_url)
    answer = browser.sign_in(token=ADMIN_TOKEN)
    assert answer.status_code == 200, answer.text
    cookie = [h for h in answer.raw.headers.getlist("Set-Cookie")
              if h.startswith("studio_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie      # plain HTTP here; over HTTPS it is Secure
    assert ADMIN_TOKEN not in answer.text and answer.json()["operator"]["role"] == "owner"
    assert browser.call("GET", "/api/admin/session").json()["operator"]["name"] == "token"


def test_a_change_with_the_cookie_but_without_the_csrf_header_is_refused(system, api, hall,
                                                                        holds):
    _, browser = operator(system, api, "manager")
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=8)))
    holds.append(booking["id"])
    path = f"/api/bookings/{booking['id']}/confirm"
    refused = browser.call("POST", path, csrf=False, json={"amount": 1000})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_refused"
    forged = browser.call("POST", path, csrf=False, json={"amount": 1000},
                          headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    assert browser.call("POST", path, json={"amount": 1000}).status_code == 200


def test_roles_decide_what_an_operator_may_do(system, api, hall, holds):
    _, viewer = operator(system, api, "viewer")
    _, manager = operator(system, api, "manager")
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=9)))
    holds.append(booking["id"])
    assert viewer.call("GET", "/api/bookings").status_code == 200
    assert viewer.call("POST", f"/api/bookings/{booking['id']}/confirm",
                       json={}).status_code == 403
    assert viewer.call("DELETE", f"/api/bookings/{booking['id']}").status_code == 403
    assert manager.call("GET", "/api/admin/operators").status_code == 403
    assert manager.call("POST", "/api/admin/operators", json={
        "name": "sneaky", "password": PASSWORD, "role": "owner"}).status_code == 403
    too_much = manager.call("POST", f"/api/payments/{uuid.uuid4()}/refund", json={})
    assert too_much.status_code == 403 and "manager_refund_limit" in too_much.json()["details"]


def test_an_operators_change_is_in_the_audit_trail_with_who_where_and_request_id(
        system, api, hall, holds):
    name, manager = operator(system, api, "manager")
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=10)))
    holds.append(booking["id"])
    answer = manager.call("POST", f"/api/bookings/{booking['id']}/confirm",
                          json={"amount": 5000}, headers={"X-Request-ID": "desk-req-1"})
    assert answer.status_code == 200, answer.text
    trail = api.get("/api/admin/audit", params={"booking_id": booking["id"]}, admin=True)
    [entry] = trail.json()["items"]
    assert (entry["operator"], entry["role"], entry["action"]) == (name, "manager",
                                                                   "confirm_booking")
    assert entry["ip"] == "127.0.0.1" and entry["request_id"] == "desk-req-1"
    assert entry["details"] == {"amount": 5000} and entry["outcome"] == "ok"
    signed_in = api.get("/api/admin/audit", params={"operator": name}, admin=True).json()
    assert "sign_in" in [e["action"] for e in signed_in["items"]]


def test_sign_out_ends_the_session(system, api):
    _, manager = operator(system, api, "manager")
    assert manager.call("DELETE", "/api/admin/session").status_code == 200
    manager.http.cookies.clear()
    assert manager.call("GET", "/api/bookings").status_code == 401


def test_a_stolen_cookie_stops_working_after_sign_out(system, api):
    _, manager = operator(system, api, "manager")
    stolen = manager.http.cookies.get("studio_session")
    assert manager.call("DELETE", "/api/admin/session").status_code == 200
    thief = requests.get(system.base_url + "/api/bookings", cookies={"studio_session": stolen},
                         timeout=30)
    assert thief.status_code == 401 and thief.json()["error"] == "session_ended"


def test_repeated_wrong_passwords_are_limited(system, api):
    name, _ = operator(system, api, "viewer")
    browser = Browser(system.base_url)
    answers = [browser.sign_in(name=name, password="wrong password").status_code
               for _ in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429
    locked = browser.sign_in(name=name, password=PASSWORD)
    assert locked.status_code == 429 and int(locked.json()["details"]["retry_after"]) > 0


def test_no_token_or_password_reaches_the_logs(system, api):
    Browser(system.base_url).sign_in(token=ADMIN_TOKEN)
    operator(system, api, "viewer")
    for name in system.names:
        with open(f"{system.log_dir}/{name}.log", encoding="utf-8", errors="replace") as f:
            text = f.read()
        assert ADMIN_TOKEN not in text and PASSWORD not in text, name


def test_the_dashboard_pages_open_only_with_a_live_session(system, api, hall, holds):
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=11)))
    holds.append(booking["id"])
    plain = requests.get(system.base_url + "/admin/", allow_redirects=False, timeout=30)
    assert plain.status_code == 303 and plain.headers["Location"].endswith("/admin/sign-in")
    customer = requests.get(system.base_url + "/admin/", allow_redirects=False, timeout=30,
                            headers={"Authorization": f"Bearer {booking['access_token']}"})
    assert customer.status_code == 303
    forged = requests.get(system.base_url + "/admin/", allow_redirects=False, timeout=30,
                          cookies={"studio_session": "made-up"})
    assert forged.status_code == 303
    _, manager = operator(system, api, "manager")
    page = manager.call("GET", "/admin/", allow_redirects=False)
    assert page.status_code == 200 and "admin.js" in page.text
    assert "Content-Security-Policy" in page.headers
    sign_in = requests.get(system.base_url + "/admin/sign-in", timeout=30)
    assert sign_in.status_code == 200 and ADMIN_TOKEN not in sign_in.text
