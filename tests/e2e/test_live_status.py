"""Live status over Server-Sent Events, through real gateway processes: the state first, events
as they happen, two gateway processes each serving their own clients, Last-Event-ID, heartbeats,
caps, and the short-lived ticket that opens a stream from a browser."""
import os
import time
import uuid
from datetime import date, timedelta

import pytest
import requests

from scripts.system import System, free_port
from services.common.booking_links import link_token, live_ticket, secret_from_config
from services.payments.providers.mock import PAYING_CARD
from tests.amqp import wait_until
from tests.sse import SseClient


@pytest.fixture(scope="module")
def second_gateway(system):
    """Another gateway process on the same broker, with a fast heartbeat and small caps."""
    address = f"127.0.0.1:{free_port()}"
    other = System(env={"WEB_SERVER_ADDRESS": address, "LIVE_HEARTBEAT_SECONDS": "0.5",
                        "LIVE_MAX_STREAMS": "3", "LIVE_MAX_STREAMS_PER_BOOKING": "2"},
                   names=["gateway"], log_dir=system.log_dir)
    other.start_all()
    try:
        other.wait_healthy(timeout=60)
        yield other.base_url
    finally:
        other.stop_all()


@pytest.fixture
def new_booking(api, operator):
    """Makes bookings, each in a hall of its own (no test competes for a slot)."""
    def make():
        hall = operator.booking.create_hall({
            "name": f"Live hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
            "tariff": {"hourly_price": 240000, "rules": []}})
        day = date.today() + timedelta(days=10)
        created = api.post("/api/bookings", json={
            "hall_id": hall["id"], "start": f"{day}T10:00", "end": f"{day}T12:00",
            "customer": {"name": "Анна", "phone": "+7 903 111-22-33"}})
        assert created.status_code == 201, created.text
        return created.json()
    return make


@pytest.fixture
def streams():
    opened = []

    def open_stream(base_url, booking_id, **kwargs):
        stream = SseClient(f"{base_url}/api/bookings/{booking_id}/events", **kwargs)
        opened.append(stream)
        return stream
    yield open_stream
    for stream in opened:
        stream.close()
    if opened:   # the second gateway notices at its next heartbeat (0.5 s) and frees the places
        time.sleep(1)


def bearer(booking):
    return {"Authorization": f"Bearer {booking['access_token']}"}


def pay_at_mock_checkout(api, booking):
    payment = api.post("/api/payments", token=booking["access_token"], json={
        "booking_id": booking["id"], "kind": "prepayment", "gateway": "mock"})
    assert payment.status_code == 201, payment.text
    paid = api.session.post(payment.json()["confirmation_url"],
                            data={"card_number": PAYING_CARD}, allow_redirects=False)
    assert paid.status_code == 303
    return payment.json()


def test_a_stream_starts_with_the_state_and_follows_the_payment_live(api, new_booking,
                                                                    streams):
    booking = new_booking()
    stream = streams(api.base_url, booking["id"], headers=bearer(booking))
    assert stream.status_code == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    state = stream.wait_for("state", timeout=5)
    assert state["data"]["id"] == booking["id"]
    assert state["data"]["status"] == "pending_payment"

    payment = pay_at_mock_checkout(api, booking)
    succeeded = stream.wait_for("payment.succeeded")
    assert succeeded["id"] and succeeded["data"]["payload"]["payment_id"] == payment["id"]
    confirmed = stream.wait_for("booking.confirmed")
    assert confirmed["data"]["payload"]["status"] == "confirmed"
    assert confirmed["data"]["payload"]["amount_paid"] == booking["prepayment_amount"]


def test_streams_of_one_booking_carry_nothing_of_another(api, new_booking, streams):
    watched, other = new_booking(), new_booking()
    stream = streams(api.base_url, watched["id"], headers=bearer(watched))
    stream.wait_for("state", timeout=5)
    pay_at_mock_checkout(api, other)
    assert wait_until(lambda: api.get(f"/api/bookings/{other['id']}", admin=True).json()[
        "status"] == "confirmed", seconds=15)
    time.sleep(0.5)
    assert stream.messages.empty()


def test_a_browser_opens_its_stream_with_a_short_lived_ticket_cookie(api, new_booking,
                                                                    streams, config):
    booking, other = new_booking(), new_booking()
    url = f"/api/bookings/{booking['id']}/events"
    assert streams(api.base_url, booking["id"]).status_code == 401
    assert api.post(f"/api/bookings/{booking['id']}/live-ticket").status_code == 401
    assert api.post(f"/api/bookings/{booking['id']}/live-ticket",
                    token=other["access_token"]).status_code == 403

    browser = requests.Session()
    answer = browser.post(f"{api.base_url}/api/bookings/{booking['id']}/live-ticket",
                          headers=bearer(booking))
    assert answer.status_code == 201 and answer.json() == {"expires_in": 300}
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and f"Path={url}" in cookie and "SameSite=Strict" in cookie
    ticket = browser.cookies.get("live_ticket")
    assert booking["access_token"] not in cookie

    stream = streams(api.base_url, booking["id"], cookies={"live_ticket": ticket})
    assert stream.status_code == 200
    assert stream.wait_for("state", timeout=5)["data"]["id"] == booking["id"]
    # one booking's ticket opens no other; a ticket past its time opens nothing
    assert streams(api.base_url, other["id"],
                   cookies={"live_ticket": ticket}).status_code == 401
    secret = secret_from_config(config)
    expired = live_ticket(secret, booking["id"], seconds=-1)
    assert streams(api.base_url, booking["id"],
                   cookies={"live_ticket": expired}).status_code == 401
    forged = live_ticket("not-the-secret", booking["id"], seconds=300)
    assert streams(api.base_url, booking["id"],
                   cookies={"live_ticket": forged}).status_code == 401


def test_two_gateway_processes_each_deliver_to_their_own_clients(api, new_booking, streams,
                                                                 second_gateway):
    booking = new_booking()
    here = streams(api.base_url, booking["id"], headers=bearer(booking))
    there = streams(second_gateway, booking["id"], headers=bearer(booking))
    here.wait_for("state", timeout=5)
    there.wait_for("state", timeout=5)
    pay_at_mock_checkout(api, booking)
    assert here.wait_for("booking.confirmed")["data"]["payload"]["booking_id"] == booking["id"]
    assert there.wait_for("booking.confirmed")["data"]["payload"]["booking_id"] == booking["id"]


def test_a_reconnect_with_last_event_id_gets_the_state_then_what_it_missed(
        api, new_booking, streams, second_gateway):
    booking = new_booking()
    first = streams(api.base_url, booking["id"], headers=bearer(booking))
    first.wait_for("state", timeout=5)
    pay_at_mock_checkout(api, booking)
    last_seen = first.wait_for("payment.succeeded")["id"]
    first.close()   # the connection drops before booking.confirmed arrives ...
    assert wait_until(lambda: api.get(f"/api/bookings/{booking['id']}", admin=True).json()[
        "status"] == "confirmed", seconds=15)

    # ... and the browser comes back, to another gateway process, with its Last-Event-ID
    again = streams(second_gateway, booking["id"],
                    headers={**bearer(booking), "Last-Event-ID": last_seen})
    state = again.next(timeout=5)
    assert state["event"] == "state" and state["data"]["status"] == "confirmed"
    missed = again.next(timeout=5)
    assert missed["event"] == "booking.confirmed" and missed["id"] != last_seen

    # an id this process never saw: the state alone, which already says it all
    fresh = streams(second_gateway, booking["id"],
                    headers={**bearer(booking), "Last-Event-ID": str(uuid.uuid4())})
    assert fresh.next(timeout=5)["event"] == "state"
    assert "comment" in fresh.next(timeout=5)   # a heartbeat, no replay


def test_idle_streams_get_heartbeats(api, new_booking, streams, second_gateway):
    booking = new_booking()
    stream = streams(second_gateway, booking["id"], headers=bearer(booking))
    stream.wait_for("state", timeout=5)
    started, heartbeats = time.monotonic(), 0
    while heartbeats < 2:
        frame = stream.next(timeout=5)
        if frame == {"comment": "heartbeat"}:
            heartbeats += 1
        else:  # the booking's own booking.created may still arrive after its state
            assert frame["data"]["type"] == "booking.created", frame
    assert time.monotonic() - started < 3


def test_streams_are_capped_per_booking_429_and_per_process_503(api, new_booking, streams,
                                                                 second_gateway):
    # the second gateway: 2 streams per booking, 3 in all
    one, two, three = new_booking(), new_booking(), new_booking()
    first = streams(second_gateway, one["id"], headers=bearer(one))
    assert streams(second_gateway, one["id"], headers=bearer(one)).status_code == 200
    refused = streams(second_gateway, one["id"], headers=bearer(one))
    assert refused.status_code == 429
    assert refused.response.json()["error"] == "too_many_streams"

    assert streams(second_gateway, two["id"], headers=bearer(two)).status_code == 200
    full = streams(second_gateway, three["id"], headers=bearer(three))
    assert full.status_code == 503 and full.response.json()["error"] == "live_streams_full"

    # a stream whose client went away is noticed at the next heartbeat and frees its place
    first.close()

    def opens():
        stream = streams(second_gateway, three["id"], headers=bearer(three))
        return stream.status_code == 200
    assert wait_until(opens, seconds=5)


def test_a_link_token_from_a_message_opens_its_booking_and_no_other(api, new_booking, config):
    booking, other = new_booking(), new_booking()
    token = link_token(secret_from_config(config), booking["id"])
    assert token != booking["access_token"]
    mine = api.get(f"/api/bookings/{booking['id']}", token=token)
    assert mine.status_code == 200 and mine.json()["id"] == booking["id"]
    assert api.get(f"/api/bookings/{other['id']}", token=token).status_code == 403
    payment = api.post("/api/payments", token=token, json={
        "booking_id": booking["id"], "kind": "prepayment", "gateway": "mock"})
    assert payment.status_code == 201, payment.text


def test_the_live_cost_of_a_stream_is_no_worker(api, new_booking, streams):
    """More open streams than the gateway has workers: the API still answers."""
    booking = new_booking()
    max_workers = int(os.environ.get("MAX_WORKERS", 20))
    per_booking = 8
    bookings = [booking] + [new_booking() for _ in range(max_workers // per_booking + 1)]
    opened = 0
    for each in bookings:
        for _ in range(per_booking):
            if opened > max_workers:
                break
            assert streams(api.base_url, each["id"], headers=bearer(each)).status_code == 200
            opened += 1
    assert api.get("/api/halls", timeout=5).status_code == 200
