"""Calendars over HTTP: a booking's .ics for its customer, a hall's feed for the studio."""
import uuid

import icalendar
import pytest

from tests.amqp import rpc_client
from tests.e2e.test_booking_api import MONDAY, body


@pytest.fixture(scope="module")
def operator(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


@pytest.fixture
def hall(operator):
    return operator.booking.create_hall({
        "name": f"Calendar hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
        "tariff": {"hourly_price": 200000, "rules": []}})


def only_event(answer):
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(answer.content).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_a_booking_downloads_as_ics_and_polls_cheaply_until_it_changes(api, hall):
    booking = api.post("/api/bookings", json=body(hall, "10:00", "12:00")).json()
    token, path = booking["access_token"], f"/api/bookings/{booking['id']}/calendar.ics"

    first = api.get(path, token=token)
    event = only_event(first)
    assert str(event["STATUS"]) == "TENTATIVE" and event["SEQUENCE"] == 0
    assert event.decoded("DTSTART").isoformat() == f"{MONDAY}T07:00:00+00:00"
    assert "Пётр".encode() not in first.content and b"\r\n" in first.content
    unchanged = api.get(path, token=token, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and not unchanged.content

    api.delete(f"/api/bookings/{booking['id']}", token=token)
    changed = api.get(path, token=token, headers={"If-None-Match": first.headers["ETag"]})
    cancelled = only_event(changed)
    assert str(cancelled["STATUS"]) == "CANCELLED" and cancelled["SEQUENCE"] == 1
    assert cancelled["UID"] == event["UID"]
    assert only_event(api.get(path, admin=True))["UID"] == event["UID"]


def test_a_booking_calendar_needs_the_booking_token(api, hall):
    booking = api.post("/api/bookings", json=body(hall, "14:00", "15:00")).json()
    path = f"/api/bookings/{booking['id']}/calendar.ics"
    assert api.get(path).status_code == 401
    assert api.get(path, token="not-it").status_code == 403
    assert api.get(f"/api/bookings/{uuid.uuid4()}/calendar.ics", admin=True).status_code == 404
