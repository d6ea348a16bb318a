"""Closures over HTTP, every service running: a block hides its time from customers and no
booking can take it; special days give a date hours of its own."""
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.amqp import wait_until
from tests.e2e.test_booking_api import MONDAY, body

TUESDAY = MONDAY + timedelta(days=1)


def slots_of(api, hall, day=MONDAY):
    days = api.get("/api/bookings/availability", params={
        "hall_id": hall["id"], "start_date": str(day), "end_date": str(day)}).json()["days"]
    return [slot["start"][11:16] for slot in days[0]["slots"]]


def close(api, hall, start, end, day=MONDAY, **extra):
    return api.post("/api/admin/blocks", admin=True, json={
        "hall_id": hall["id"] if hall else None, "start": f"{day}T{start}",
        "end": f"{day}T{end}", "reason": "maintenance", **extra})


def test_a_block_hides_its_time_and_refuses_a_booking_over_it(api, hall, operator):
    made = close(api, hall, "12:00", "14:00")
    assert made.status_code == 201, made.text
    [block] = made.json()["blocks"]
    assert (block["start"], block["end"]) == (f"{MONDAY}T12:00:00+03:00",
                                              f"{MONDAY}T14:00:00+03:00")
    free = slots_of(api, hall)
    assert "12:00" not in free and "13:45" not in free and "14:00" in free
    # the hall's 15-minute cleaning buffer must end before the block starts
    assert "11:30" in free and "11:45" not in free
    refused = api.post("/api/bookings", json=body(hall, "13:00", "15:00"))
    assert refused.status_code == 409 and refused.json()["error"] == "hall_closed"
    assert api.post("/api/bookings", json=body(hall, "14:00", "15:00")).status_code == 201

    logged = wait_until(lambda: [e for e in operator.integration.list_events(
        type="hall.blocked")["items"] if e["payload"]["block_id"] == block["id"]])
    assert logged[0]["payload"]["reason"] == "maintenance"

    opened = api.delete(f"/api/admin/blocks/{block['id']}", admin=True)
    assert opened.status_code == 200
    assert "12:00" in slots_of(api, hall)
    assert api.post("/api/bookings", json=body(hall, "12:00", "13:00")).status_code == 201


def test_a_block_over_bookings_first_lists_them_then_is_made_when_forced(api, hall):
    booking = api.post("/api/bookings", json=body(hall, "10:00", "11:00")).json()
    refused = close(api, hall, "09:00", "12:00")
    assert refused.status_code == 409 and refused.json()["error"] == "block_hits_bookings"
    [hit] = refused.json()["details"]["bookings"]
    assert hit["id"] == booking["id"] and hit["customer_name"] == "Пётр"
    assert api.get("/api/admin/blocks", admin=True, params={
        "date_from": str(MONDAY), "date_to": str(MONDAY), "hall_id": hall["id"]}
        ).json()["items"] == []                                         # nothing was made
    forced = close(api, hall, "09:00", "12:00", force=True)
    assert forced.status_code == 201
    assert [b["id"] for b in forced.json()["bookings_hit"]] == [booking["id"]]
    # the booking stays, and still takes its payment at the desk
    paid = api.post(f"/api/bookings/{booking['id']}/confirm", admin=True)
    assert paid.status_code == 200 and paid.json()["status"] == "confirmed"


def test_a_studio_holiday_closes_every_hall_in_one_action(api, operator):
    halls = [operator.booking.create_hall({
        "name": f"Holiday hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
        "tariff": {"hourly_price": 100000, "rules": []}}) for _ in range(2)]
    day = MONDAY + timedelta(days=60)
    made = api.post("/api/admin/blocks", admin=True, headers={"Idempotency-Key": "holiday-1"},
                    json={"hall_id": None, "start": f"{day}T00:00", "end": f"{day + timedelta(days=1)}T00:00",
                          "reason": "New Year", "force": True})
    assert made.status_code == 201, made.text
    made_halls = {b["hall_id"] for b in made.json()["blocks"]}
    assert {h["id"] for h in halls} <= made_halls
    again = api.post("/api/admin/blocks", admin=True, headers={"Idempotency-Key": "holiday-1"},
                     json={"hall_id": None, "start": f"{day}T00:00",
                           "end": f"{day + timedelta(days=1)}T00:00",
                           "reason": "New Year", "force": True})
    assert again.json() == made.json()                                  # made once
    for hall in halls:
        assert slots_of(api, hall, day) == []
    for block in made.json()["blocks"]:     # other tests' halls open again
        api.delete(f"/api/admin/blocks/{block['id']}", admin=True)


def test_of_a_booking_and_a_block_made_at_once_exactly_one_wins(api, hall):
    for hour in (10, 12, 14, 16, 18):     # apart by more than the hall's cleaning buffer
        start, end = f"{hour}:00", f"{hour + 1}:00"
        with ThreadPoolExecutor(2) as pool:
            booked = pool.submit(api.post, "/api/bookings",
                                 json=body(hall, start, end, day=TUESDAY))
            blocked = pool.submit(close, api, hall, start, end, TUESDAY)
        booked, blocked = booked.result(), blocked.result()
        assert sorted([booked.status_code, blocked.status_code]) == [201, 409], (
            booked.text, blocked.text)
        loser = booked if booked.status_code == 409 else blocked
        assert loser.json()["error"] in ("hall_closed", "block_hits_bookings")


def test_a_block_needs_a_reason_an_order_and_a_manager(api, hall):
    no_reason = api.post("/api/admin/blocks", admin=True, json={
        "hall_id": hall["id"], "start": f"{MONDAY}T10:00", "end": f"{MONDAY}T11:00"})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["details"]
    backwards = close(api, hall, "11:00", "10:00")
    assert backwards.status_code == 422 and "end" in backwards.json()["details"]
    assert api.post("/api/admin/blocks", json={"hall_id": hall["id"], "start": f"{MONDAY}T10:00",
                                               "end": f"{MONDAY}T11:00",
                                               "reason": "x"}).status_code == 401
    assert api.delete(f"/api/admin/blocks/{uuid.uuid4()}", admin=True).status_code == 404


def test_a_short_day_is_honoured_and_lists_the_bookings_outside_it(api, hall):
    late = api.post("/api/bookings", json=body(hall, "19:00", "20:00", day=TUESDAY)).json()
    short = api.request("PUT", f"/api/admin/special-days/{TUESDAY}", admin=True, json={
        "hall_id": hall["id"], "hours": ["10:00", "16:00"], "note": "pre-holiday"})
    assert short.status_code == 200, short.text
    assert [b["id"] for b in short.json()["bookings_outside"]] == [late["id"]]
    free = slots_of(api, hall, TUESDAY)
    assert free[0] == "10:00" and free[-1] == "15:45"
    refused = api.post("/api/bookings", json=body(hall, "15:00", "17:00", day=TUESDAY))
    assert refused.status_code == 422 and "16:00" in str(refused.json()["details"])
    listed = api.get("/api/admin/special-days", admin=True, params={
        "date_from": str(TUESDAY), "date_to": str(TUESDAY)}).json()["items"]
    assert {"day": str(TUESDAY), "hall_id": hall["id"], "hours": ["10:00", "16:00"],
            "note": "pre-holiday"} in listed
    cleared = api.delete(f"/api/admin/special-days/{TUESDAY}", admin=True,
                         params={"hall_id": hall["id"]})
    assert cleared.status_code == 200
    assert slots_of(api, hall, TUESDAY)[-1] == "21:45"


@pytest.mark.parametrize("hours", [["16:00", "10:00"], ["10:00"], ["25:00", "26:00"]])
def test_nonsense_hours_are_refused(api, hall, hours):
    answer = api.request("PUT", f"/api/admin/special-days/{TUESDAY}", admin=True,
                         json={"hall_id": hall["id"], "hours": hours})
    assert answer.status_code == 422 and "hours" in answer.json()["details"], answer.text


def test_the_database_refuses_a_booking_over_a_block_whoever_writes_it(api, hall, databases):
    """The rule lives in PostgreSQL (0005_closures): no code path can slip past it."""
    block = close(api, hall, "16:00", "18:00", day=TUESDAY).json()["blocks"][0]
    engine = create_engine(databases["booking"])
    try:
        with pytest.raises(Exception, match="closed"):
            with engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO bookings (id, hall_id, start_at, end_at, busy, status, "
                    "price_total, prepayment_amount, currency, customer, access_token_hash) "
                    "VALUES (:id, :hall, :s, :e, tstzrange(:s, :e), 'confirmed', 0, 0, 'RUB', "
                    "'{}', 'x')"), {"id": str(uuid.uuid4()), "hall": hall["id"],
                                     "s": block["start"], "e": block["end"]})
    finally:
        engine.dispose()
