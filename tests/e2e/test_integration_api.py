"""The integration log over HTTP (operators), every service running as its own process."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.amqp import wait_until
from tests.integration.integration_flow import book, book_many, hour_slots, make_hall

ITEM_FIELDS = {"event_id", "type", "source", "occurred_at", "booking_id", "payment_id",
               "payload", "status"}


@pytest.fixture(scope="module")
def hall(operator):
    return make_hall(operator)


def logged(api, **params):
    answer = api.get("/api/integrations/events", params=params, admin=True)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_log_is_for_operators_only(api):
    assert api.get("/api/integrations/events").status_code == 401
    assert api.get("/api/integrations/events", token="guess").status_code == 403
    assert api.get(f"/api/integrations/bookings/{uuid.uuid4()}/events").status_code == 401


def test_a_desk_confirmation_shows_in_the_log_and_in_the_booking_chain(api, hall):
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=5)))
    confirmed = api.post(f"/api/bookings/{booking['id']}/confirm", admin=True, json={})
    assert confirmed.status_code == 200, confirmed.text

    def chain():
        items = api.get(f"/api/integrations/bookings/{booking['id']}/events",
                        admin=True).json()["items"]
        return items if {"booking.created", "booking.confirmed"} <= {
            i["type"] for i in items} else None

    items = wait_until(chain, 20)
    assert items, "booking.created and booking.confirmed never reached the integration log"
    types = [i["type"] for i in items]
    assert types.index("booking.created") < types.index("booking.confirmed")
    confirmation = items[types.index("booking.confirmed")]
    assert ITEM_FIELDS <= set(confirmation)
    assert confirmation["source"] == "booking" and confirmation["status"] == "logged"
    assert confirmation["booking_id"] == booking["id"]
    assert confirmation["payload"]["status"] == "confirmed"
    assert confirmation["payload"]["amount_paid"] == booking["price_total"]

    page = logged(api, booking_id=booking["id"], type="booking.confirmed")
    assert [i["event_id"] for i in page["items"]] == [confirmation["event_id"]]
    assert page["next_cursor"] is None
    one = api.get(f"/api/integrations/events/{confirmation['event_id']}", admin=True)
    assert one.status_code == 200 and one.json()["event_id"] == confirmation["event_id"]


def test_filters_and_keyset_paging_walk_the_log_newest_first(api, operator, holds):
    hall = make_hall(operator)
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    bookings = book_many(api, hall, 7, weeks_ahead=6)
    holds.extend(b["id"] for b in bookings)
    wanted = {b["id"] for b in bookings}

    def created_since():
        items = []
        cursor = None
        while True:
            params = {"type": "booking.created", "source": "booking", "status": "logged",
                      "since": started.isoformat(), "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = logged(api, **params)
            assert len(page["items"]) <= 3
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    items = wait_until(lambda: (lambda got: got if wanted <= {
        i["booking_id"] for i in got} else None)(created_since()), 20)
    assert items, "not every booking.created was logged"
    ids = [i["event_id"] for i in items]
    assert len(ids) == len(set(ids)), "a page repeated an event"
    keys = [(i["occurred_at"], i["event_id"]) for i in items]
    assert keys == sorted(keys, reverse=True)
    assert all(i["type"] == "booking.created" for i in items)
    until = logged(api, type="booking.created", until=started.isoformat(), limit=200)
    assert not wanted & {i["booking_id"] for i in until["items"]}


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"status": "lost"}, "status"), ({"since": "yesterday"}, "since"),
    ({"type": "booking.exploded"}, "type"), ({"cursor": "not-a-cursor"}, "cursor")])
def test_bad_filters_are_422_naming_the_field(api, params, field):
    answer = api.get("/api/integrations/events", params=params, admin=True)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["details"]


def test_an_unknown_event_is_404_and_a_logged_one_has_nothing_to_retry(api, operator, hall,
                                                                       holds):
    missing = api.get(f"/api/integrations/events/{uuid.uuid4()}", admin=True)
    assert missing.status_code == 404 and missing.json()["error"] == "event_not_found"
    assert api.post(f"/api/integrations/events/{uuid.uuid4()}/retry",
                    admin=True).status_code == 404
    booking = book(api, hall, *next(hour_slots(1, weeks_ahead=7)))
    holds.append(booking["id"])
    created = wait_until(lambda: logged(api, booking_id=booking["id"])["items"], 20)
    answer = api.post(f"/api/integrations/events/{created[0]['event_id']}/retry", admin=True)
    assert answer.status_code == 409 and answer.json()["error"] == "event_not_retryable"


def test_the_openapi_document_describes_the_integration_routes(api):
    paths = api.get("/api/openapi.json").json()["paths"]
    events = paths["/api/integrations/events"]["get"]
    assert events["security"] == [{"admin": []}, {"session": []}]
    names = {p.get("name") for p in events["parameters"]}
    assert {"type", "booking_id", "payment_id", "source", "since", "until", "status",
            "cursor", "limit"} <= names
    assert "/api/integrations/bookings/{booking_id}/events" in paths
    assert "post" in paths["/api/integrations/events/{event_id}/retry"]
