"""Booking over HTTP through the gateway, every service running as its own process."""
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.amqp import rpc_client


@pytest.fixture(scope="module")
def operator(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


@pytest.fixture
def hall(operator):
    return operator.booking.create_hall({
        "name": f"E2E hall {uuid.uuid4()}", "capacity": 8, "buffer_minutes": 15,
        "description": "for tests",
        "tariff": {"hourly_price": 240000, "rules": [
            {"weekdays": [5, 6], "start": "09:00", "end": "22:00", "hourly_price": 360000}]}})


def next_weekday(weekday, weeks_ahead=2):
    day = date.today() + timedelta(weeks=weeks_ahead)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


MONDAY = next_weekday(0)


def body(hall, start, end, day=MONDAY, **extra):
    return {"hall_id": hall["id"], "start": f"{day}T{start}", "end": f"{day}T{end}",
            "customer": {"name": "Пётр", "phone": "+7 903 111-22-33",
                         "email": "petr@example.com"}, **extra}


def test_halls_are_listed_with_their_base_price(api, hall):
    halls = api.get("/api/halls").json()
    mine = [h for h in halls if h["id"] == hall["id"]]
    assert mine == [{"id": hall["id"], "name": hall["name"], "description": "for tests",
                     "capacity": 8, "hourly_price": 240000, "currency": "RUB",
                     "buffer_minutes": 15, "tariff_rules": [
                         {"weekdays": [5, 6], "start": "09:00", "end": "22:00",
                          "hourly_price": 360000}],
                     "opening_hours": {day: ["09:00", "22:00"] for day in (
                         "mon", "tue", "wed", "thu", "fri", "sat", "sun")}}]


def test_availability_and_quote_of_a_weekend_day(api, hall):
    saturday = MONDAY + timedelta(days=5)
    answer = api.get("/api/bookings/availability", params={
        "hall_id": hall["id"], "start_date": str(MONDAY), "end_date": str(saturday)})
    assert answer.status_code == 200
    data = answer.json()
    assert data["timezone"] == "Europe/Moscow" and data["slot_minutes"] == 15
    assert [d["date"] for d in data["days"]][0] == str(MONDAY) and len(data["days"]) == 6
    monday, weekend = data["days"][0]["slots"], data["days"][-1]["slots"]
    assert monday[0] == {"start": f"{MONDAY}T09:00:00+03:00",
                         "end": f"{MONDAY}T09:15:00+03:00", "price": 60000}
    assert weekend[0]["price"] == 90000 and len(monday) == 52
    quote = api.get("/api/bookings/quote", params={
        "hall_id": hall["id"], "start": f"{saturday}T10:00", "end": f"{saturday}T11:30"})
    assert quote.json() == {"price_total": 540000, "prepayment_amount": 162000,
                            "currency": "RUB"}


def test_a_customer_books_reads_and_cancels_with_the_token(api, hall):
    created = api.post("/api/bookings", json=body(hall, "10:00", "12:00", comment="свадьба"))
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "pending_payment" and booking["price_total"] == 480000
    assert booking["prepayment_amount"] == 144000 and booking["start"].endswith("+03:00")
    token = booking.pop("access_token")
    read = api.get(f"/api/bookings/{booking['id']}", token=token)
    assert read.status_code == 200 and "access_token" not in read.json()
    assert read.json()["id"] == booking["id"]
    assert api.get(f"/api/bookings/{booking['id']}").status_code == 401
    assert api.get(f"/api/bookings/{booking['id']}", token="not-it").status_code == 403
    assert api.get(f"/api/bookings/{booking['id']}", admin=True).status_code == 200
    cancelled = api.delete(f"/api/bookings/{booking['id']}", token=token)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["refund_due"] == 0
    again = api.delete(f"/api/bookings/{booking['id']}", token=token)
    assert again.status_code == 409 and again.json()["error"] == "invalid_transition"


def test_operator_confirms_cash_at_the_desk_and_lists_bookings(api, hall):
    booking = api.post("/api/bookings", json=body(hall, "14:00", "15:00")).json()
    assert api.post(f"/api/bookings/{booking['id']}/confirm").status_code == 401
    assert api.post(f"/api/bookings/{booking['id']}/confirm", token="x").status_code == 403
    confirmed = api.post(f"/api/bookings/{booking['id']}/confirm", admin=True,
                         json={"payment_id": "desk-1"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["remaining_due"] == 0
    listed = api.get("/api/bookings", admin=True, params={
        "hall_id": hall["id"], "status": "confirmed", "date_from": str(MONDAY)})
    assert [b["id"] for b in listed.json()["items"]] == [booking["id"]]
    assert api.get("/api/bookings").status_code == 401
    assert api.get("/api/bookings", token="wrong").status_code == 403


def test_unknown_booking_and_hall_are_404(api, hall):
    missing = api.get(f"/api/bookings/{uuid.uuid4()}", admin=True)
    assert missing.status_code == 404 and missing.json()["error"] == "booking_not_found"
    no_hall = api.post("/api/bookings", json={**body(hall, "10:00", "11:00"), "hall_id": 987654})
    assert no_hall.status_code == 404 and no_hall.json()["error"] == "hall_not_found"


@pytest.mark.parametrize("start, end, day_offset, field", [
    ("10:05", "11:05", 0, "start"),          # off the grid
    ("10:00", "10:45", 0, "end"),            # shorter than an hour
    ("09:00", "21:15", 0, "end"),            # longer than 12 h
    ("21:00", "22:30", 0, "end"),            # past closing time
    ("10:00", "11:00", -30, "start"),        # in the past
    ("10:00", "11:00", 200, "start"),        # more than 180 days ahead
])
def test_a_booking_breaking_a_rule_gets_422_naming_the_field(api, hall, start, end,
                                                            day_offset, field):
    day = MONDAY + timedelta(days=day_offset)
    answer = api.post("/api/bookings", json=body(hall, start, end, day=day))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "validation_error"
    assert field in answer.json()["details"], answer.json()


def test_a_date_range_over_62_days_gets_422(api, hall):
    answer = api.get("/api/bookings/availability", params={
        "hall_id": hall["id"], "start_date": str(MONDAY),
        "end_date": str(MONDAY + timedelta(days=62))})
    assert answer.status_code == 422 and "end_date" in answer.json()["details"]


def test_fifty_simultaneous_overlapping_requests_give_exactly_one_booking(api, hall, databases):
    def attempt(i):
        start = f"{10 + i % 2}:{(i % 4) * 15:02d}"   # 10:00..11:45, each at least 75 min
        end = f"{13 + i % 2}:00"                        # so every one covers 12:00-13:00
        return api.post("/api/bookings", json=body(hall, start, end, day=MONDAY +
                                                   timedelta(days=1))).status_code

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(attempt, range(50)))
    print(f"50 overlapping requests: {codes.count(201)} created, {codes.count(409)} refused")
    assert codes.count(201) == 1 and codes.count(409) == 49
    engine = create_engine(databases["booking"])
    with engine.connect() as conn:
        overlapping = conn.execute(text(
            "SELECT count(*) FROM bookings a JOIN bookings b ON a.hall_id = b.hall_id "
            "AND a.id < b.id AND a.busy && b.busy WHERE a.hall_id = :h "
            "AND a.status IN ('pending_payment', 'confirmed') "
            "AND b.status IN ('pending_payment', 'confirmed')"), {"h": hall["id"]}).scalar()
    engine.dispose()
    assert overlapping == 0
