"""Reports and problems through the gateway: takings by day, provider and hall, occupancy
and its heat map, the bookings CSV, and a dead event planted in an inbox retried from the
problems list. Every number is checked against what the test itself made happen."""
import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.amqp import rpc_client, wait_until
from tests.integration.integration_flow import MockProviderPayer, make_hall, plant_dead_event

DAY = (date.today() + timedelta(days=20)).isoformat()


@pytest.fixture(scope="module")
def rpc(system, config):
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


def studio_today(config):
    return datetime.now(ZoneInfo(config["STUDIO_TIMEZONE"])).date().isoformat()


def book(api, hall, start, end, name="Report Customer"):
    answer = api.post("/api/bookings", json={
        "hall_id": hall["id"], "start": f"{DAY}T{start}", "end": f"{DAY}T{end}",
        "customer": {"name": name, "phone": "+7 916 000-11-22", "email": "r@example.com"}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def report(api, name, day_from, day_to, **kw):
    answer = api.get(f"/api/admin/reports/{name}", admin=True,
                     params={"date_from": day_from, "date_to": day_to}, **kw)
    assert answer.status_code == 200, answer.text
    return answer


def test_takings_count_a_payment_in_and_its_refund_out_by_hall_and_provider(api, rpc,
                                                                            config):
    hall = make_hall(rpc)
    booking = book(api, hall, "10:00", "12:00")
    payment = MockProviderPayer(api).start(booking)
    assert wait_until(lambda: api.get(f"/api/bookings/{booking['id']}", admin=True)
                      .json()["status"] == "confirmed", seconds=30)
    assert api.delete(f"/api/bookings/{booking['id']}", admin=True,
                      json={"reason": "report test"}).status_code == 200
    today = studio_today(config)

    def hall_row():
        taken = report(api, "takings", today, today).json()
        return taken, next((h for h in taken["by_hall"] if h["hall_id"] == hall["id"]), None)

    assert wait_until(lambda: (hall_row()[1] or {}).get("refunds") == payment["amount"],
                      seconds=30)
    taken, row = hall_row()
    assert row == {"hall_id": hall["id"], "hall_name": hall["name"],
                   "money_in": payment["amount"], "refunds": payment["amount"], "net": 0}
    [day] = taken["by_day"]
    assert day["date"] == today and day["money_in"] >= payment["amount"]
    mock = next(p for p in taken["by_provider"] if p["provider"] == "mock")
    assert mock["net"] == mock["money_in"] - mock["refunds"]
    assert taken["total"]["money_in"] == sum(d["money_in"] for d in taken["by_day"])


def test_money_taken_at_the_desk_is_in_the_takings_by_day_hall_and_as_the_desk(api, rpc,
                                                                              config):
    hall = make_hall(rpc)
    booking = book(api, hall, "16:00", "18:00")
    confirm = f"/api/bookings/{booking['id']}/confirm"
    first, rest = 1500_00, booking["price_total"] - 1500_00
    cash = {"amount": first, "payment_id": f"cash-{booking['id']}"}
    assert api.post(confirm, admin=True, json=cash).status_code == 200
    # the same request again (a retry) is not money twice
    for _ in range(2):
        assert api.post(confirm, admin=True, json={"amount": rest},
                        headers={"Idempotency-Key": f"desk-{booking['id']}"}).status_code == 200
    repeat = api.post(confirm, admin=True, json=cash)   # after it is paid in full, too
    assert repeat.status_code == 200 and repeat.json()["remaining_due"] == 0, repeat.text
    today = studio_today(config)
    taken = report(api, "takings", today, today).json()
    [row] = [h for h in taken["by_hall"] if h["hall_id"] == hall["id"]]
    assert row == {"hall_id": hall["id"], "hall_name": hall["name"],
                   "money_in": booking["price_total"], "refunds": 0,
                   "net": booking["price_total"]}
    desk = next(p for p in taken["by_provider"] if p["provider"] == "desk")
    assert desk["money_in"] >= booking["price_total"] and desk["refunds"] == 0
    [day] = taken["by_day"]
    assert day["money_in"] == taken["total"]["money_in"] >= booking["price_total"]


def test_occupancy_and_heat_map_count_the_hours_booked(api, rpc):
    hall = make_hall(rpc)
    booking = book(api, hall, "10:00", "12:00")
    assert api.post(f"/api/bookings/{booking['id']}/confirm", admin=True,
                    json={}).status_code == 200
    book(api, hall, "14:00", "15:00", "Only held")       # a hold is not occupancy
    occupancy = report(api, "occupancy", DAY, DAY).json()
    [row] = [h for h in occupancy["halls"] if h["hall_id"] == hall["id"]]
    assert (row["booked_minutes"], row["bookings"], row["open_minutes"]) == (120, 1, 13 * 60)
    assert row["occupancy_percent"] == round(100 * 120 / (13 * 60), 1)
    weekday = date.fromisoformat(DAY).weekday()
    assert row["heat"] == [{"weekday": weekday, "hour": 10, "percent": 100.0},
                           {"weekday": weekday, "hour": 11, "percent": 100.0}]


def test_the_bookings_csv_has_a_row_per_booking_of_the_range(api, rpc):
    hall = make_hall(rpc)
    made = [book(api, hall, "09:00", "10:00", "CSV Один"), book(api, hall, "18:00", "20:00",
                                                               "CSV Два")]
    answer = report(api, "bookings.csv", DAY, DAY)
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = [r for r in csv.DictReader(io.StringIO(answer.text)) if r["hall"] == hall["name"]]
    assert [r["id"] for r in rows] == [b["id"] for b in made]
    assert rows[1]["customer_name"] == "CSV Два" and rows[1]["price_total"] == str(
        made[1]["price_total"]) and rows[1]["status"] == "pending_payment"


def test_reports_are_for_the_owner_and_need_a_sane_range(api):
    bad = api.get("/api/admin/reports/takings", admin=True,
                  params={"date_from": "2030-02-01", "date_to": "2030-01-01"})
    assert bad.status_code == 422 and "date_to" in bad.json()["details"]
    assert api.get("/api/admin/reports/occupancy",
                   params={"date_from": DAY, "date_to": DAY}).status_code == 401


def test_a_dead_event_shows_on_problems_and_is_retried_from_there(api, databases):
    envelope = plant_dead_event(databases["integration"], "planted by the test")
    problems = api.get("/api/admin/problems", admin=True).json()
    [dead] = [e for e in problems["dead_events"] if e["event_id"] == envelope["event_id"]]
    assert dead["service"] == "integration" and "planted" in dead["last_error"]
    assert problems["counts"]["dead_events"] >= 1 and problems["counts"]["total"] >= 1
    retried = api.post(f"/api/admin/problems/events/integration/{envelope['event_id']}/retry",
                       admin=True)
    assert retried.status_code == 200, retried.text
    assert retried.json()["outcomes"] == {"log_events": "done"}
    after = api.get("/api/admin/problems", admin=True).json()
    assert envelope["event_id"] not in [e["event_id"] for e in after["dead_events"]]
    again = api.post(f"/api/admin/problems/events/integration/{envelope['event_id']}/retry",
                     admin=True)
    assert again.status_code == 404


def test_a_phone_booking_with_a_payment_link_sends_the_link_to_the_customer(api, rpc):
    hall = make_hall(rpc)
    answer = api.post("/api/admin/bookings", admin=True, headers={"Idempotency-Key": "ph-1"},
                      json={"hall_id": hall["id"], "start": f"{DAY}T11:00",
                            "end": f"{DAY}T13:00", "payment": "link", "kind": "full",
                            "customer": {"name": "По телефону", "phone": "+7 916 555-44-33",
                                         "email": "phone@example.com"}})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert "access_token" not in made["booking"] and made["sent_to"] == ["email"]
    assert made["payment"]["amount"] == made["booking"]["price_total"]
    notes = api.get("/api/notifications", admin=True,
                    params={"booking_id": made["booking"]["id"]}).json()["items"]
    [link] = [n for n in notes if n["channel"] == "email" and n["template"] == "free_text"]
    assert link["recipient"] == "phone@example.com"
    assert made["payment"]["confirmation_url"] in link["text"]
    trail = api.get("/api/admin/audit", admin=True,
                    params={"booking_id": made["booking"]["id"]}).json()["items"]
    assert [e["action"] for e in trail] == ["phone_booking"]


def test_a_phone_booking_paid_at_the_desk_is_only_held(api, rpc):
    hall = make_hall(rpc)
    answer = api.post("/api/admin/bookings", admin=True, json={
        "hall_id": hall["id"], "start": f"{DAY}T15:00", "end": f"{DAY}T16:00",
        "payment": "desk", "customer": {"name": "Desk", "phone": "+7 916 555-44-34"}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["payment"] is None
    booking = answer.json()["booking"]
    assert booking["status"] == "pending_payment"
    # held until the customer comes, not for the online hold's minutes
    assert booking["hold_expires_at"] == booking["start"] == f"{DAY}T15:00:00+03:00"
