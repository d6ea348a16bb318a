"""Calendars over HTTP: a booking's .ics for its customer, a hall's feed for the studio."""
import uuid

import icalendar

from contracts.ical import CalendarSettings, calendar_link
from tests.e2e.test_booking_api import MONDAY, body, hall, operator  # noqa: F401 -- fixtures


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


def feed_events(answer):
    assert answer.status_code == 200, answer.text
    document = answer.content
    assert b"\n" not in document.replace(b"\r\n", b"")      # CRLF only
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(document).walk("VEVENT")}


def test_a_hall_feed_shows_held_and_confirmed_bookings_and_follows_a_cancellation(
        api, hall, operator):
    issued = api.post(f"/api/halls/{hall['id']}/feed-token", admin=True)
    assert issued.status_code == 201
    token, url = issued.json()["feed_token"], issued.json()["feed_url"]
    assert url.endswith(f"/ical/halls/{hall['id']}.ics?token={token}")
    path = f"/ical/halls/{hall['id']}.ics"

    held = api.post("/api/bookings", json=body(hall, "10:00", "12:00")).json()
    confirmed = api.post("/api/bookings", json=body(hall, "13:00", "14:00")).json()
    operator.booking.confirm_at_desk(confirmed["id"])
    first = api.get(path, params={"token": token})
    events = feed_events(first)
    assert sorted(str(e["STATUS"]) for e in events.values()) == ["CONFIRMED", "TENTATIVE"]
    assert "Пётр".encode() not in first.content
    assert str(icalendar.Calendar.from_ical(first.content)["X-WR-CALNAME"]) == hall["name"]
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    again = api.get(path, params={"token": token}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content and again.headers["ETag"] == etag
    assert api.get(path, params={"token": token},
                   headers={"If-Modified-Since": modified}).status_code == 304

    api.delete(f"/api/bookings/{held['id']}", token=held["access_token"])
    changed = api.get(path, params={"token": token}, headers={"If-None-Match": etag})
    after = feed_events(changed)
    assert after.keys() == events.keys() and changed.headers["ETag"] != etag
    uid = next(uid for uid in after if held["id"] in uid)
    assert str(after[uid]["STATUS"]) == "CANCELLED"
    assert after[uid]["SEQUENCE"] > events[uid]["SEQUENCE"]


def test_a_hall_feed_opens_only_with_its_current_token(api, hall):
    path = f"/ical/halls/{hall['id']}.ics"
    assert api.get(path).status_code == 401
    assert api.get(path, params={"token": "guess"}).status_code == 403   # never issued
    old = api.post(f"/api/halls/{hall['id']}/feed-token", admin=True).json()["feed_token"]
    new = api.post(f"/api/halls/{hall['id']}/feed-token", admin=True).json()["feed_token"]
    assert api.get(path, params={"token": old}).status_code == 403
    assert api.get(path, params={"token": new}).status_code == 200
    assert api.get("/ical/halls/999999.ics", params={"token": new}).status_code == 403
    assert api.post(f"/api/halls/{hall['id']}/feed-token").status_code == 401
    assert api.delete(f"/api/halls/{hall['id']}/feed-token", admin=True).status_code == 200
    assert api.get(path, params={"token": new}).status_code == 403


def test_the_link_in_a_confirmation_opens_the_calendar_without_the_token(api, hall, config):
    booking = api.post("/api/bookings", json=body(hall, "16:00", "17:00")).json()
    link = calendar_link(booking["id"], CalendarSettings.from_config(config))
    assert only_event(api.session.get(link))["UID"]
    path = f"/api/bookings/{booking['id']}/calendar.ics"
    assert api.get(path, params={"key": "forged"}).status_code == 401
    other = api.post("/api/bookings", json=body(hall, "18:00", "19:00")).json()
    assert api.session.get(link.replace(booking["id"], other["id"])).status_code == 401
