"""Moving a booking over HTTP (POST /api/bookings/<id>/reschedule), every service running: the
slot, the money, the messages, the integration log and the calendar feed all follow."""
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from tests.amqp import stays_true, wait_until
from tests.e2e.test_booking_api import MONDAY, body
from tests.integration.integration_flow import publish

TUESDAY, SATURDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=5)
MSK = ZoneInfo("Europe/Moscow")


def move(api, booking, start, end, day=TUESDAY, token=None, key=None, **extra):
    """Move as the customer (the booking's token) or, with token=False, as the operator."""
    headers = {"Idempotency-Key": key} if key else {}
    auth = {"admin": True} if token is False else {"token": token or booking["access_token"]}
    return api.post(f"/api/bookings/{booking['id']}/reschedule", headers=headers,
                    json={"start": f"{day}T{start}", "end": f"{day}T{end}", **extra}, **auth)


def booked(api, hall, start, end, day=MONDAY):
    created = api.post("/api/bookings", json=body(hall, start, end, day=day))
    assert created.status_code == 201, created.text
    return created.json()


def test_a_customer_moves_a_held_booking_to_a_free_time_and_the_old_slot_is_free(api, hall,
                                                                                   operator):
    booking = booked(api, hall, "10:00", "12:00")
    moved = move(api, booking, "15:00", "17:00")
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert answer["start"] == f"{TUESDAY}T15:00:00+03:00" and answer["status"] == "pending_payment"
    assert answer["refund_due"] == 0 and answer["revision"] > booking["revision"]
    assert answer["hold_expires_at"] == booking["hold_expires_at"]   # moving does not extend it
    # the old time is free again: somebody else takes it
    assert api.post("/api/bookings", json=body(hall, "10:00", "12:00")).status_code == 201
    logged = wait_until(lambda: operator.integration.list_events(
        type="booking.rescheduled", booking_id=booking["id"])["items"])
    assert logged[0]["payload"]["previous"]["start"] == booking["start"]
    assert (logged[0]["status"], logged[0]["outcome"]) == ("logged", "no refund due")


def test_a_move_onto_a_taken_time_is_409_and_changes_nothing(api, hall):
    taken = booked(api, hall, "10:00", "12:00", day=TUESDAY)
    booking = booked(api, hall, "10:00", "12:00")
    refused = move(api, booking, "11:00", "13:00")
    assert refused.status_code == 409 and refused.json()["error"] == "slot_taken"
    after = api.get(f"/api/bookings/{booking['id']}", token=booking["access_token"]).json()
    assert (after["start"], after["revision"]) == (booking["start"], booking["revision"])
    assert taken["id"] != booking["id"]


def test_of_two_moves_into_one_slot_exactly_one_wins(api, hall):
    first, second = booked(api, hall, "10:00", "11:00"), booked(api, hall, "13:00", "14:00")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda b: move(api, b, "16:00", "17:00", token=False),
                                (first, second)))
    assert sorted(a.status_code for a in answers) == [200, 409]
    slots = [api.get(f"/api/bookings/{b['id']}", admin=True).json()["start"]
             for b in (first, second)]
    assert slots.count(f"{TUESDAY}T16:00:00+03:00") == 1


def test_a_dearer_time_leaves_the_rest_due_and_it_can_be_paid(api, hall, payer, operator):
    booking = booked(api, hall, "10:00", "12:00")            # 2 h at 2400 ₽
    payer.start(booking, "prepayment")
    wait_until(lambda: api.get(f"/api/bookings/{booking['id']}",
                               token=booking["access_token"]).json()["status"] == "confirmed")
    moved = move(api, booking, "10:00", "12:00", day=SATURDAY)   # 2 h at 3600 ₽
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert (answer["price_total"], answer["amount_paid"]) == (720000, booking["prepayment_amount"])
    assert answer["remaining_due"] == 720000 - booking["prepayment_amount"]
    rest = payer.start(booking, "remainder")
    assert rest["amount"] == answer["remaining_due"]
    wait_until(lambda: api.get(f"/api/bookings/{booking['id']}", token=booking[
        "access_token"]).json()["amount_paid"] == 720000)


def test_a_cheaper_time_refunds_the_difference_once_even_when_the_event_comes_again(
        api, hall, payer, operator, config):
    booking = booked(api, hall, "10:00", "12:00", day=SATURDAY)   # 7200 ₽
    payment = payer.start(booking, "full")
    wait_until(lambda: api.get(f"/api/bookings/{booking['id']}",
                               token=booking["access_token"]).json()["amount_paid"] == 720000)
    moved = move(api, booking, "10:00", "12:00", day=TUESDAY)      # 4800 ₽
    assert moved.status_code == 200, moved.text
    assert (moved.json()["refund_due"], moved.json()["amount_paid"]) == (240000, 480000)

    def refunded():
        return operator.payments.get_payment(payment["id"])["refunded_amount"]
    assert wait_until(lambda: refunded() == 240000, seconds=30)

    logged = wait_until(lambda: operator.integration.list_events(
        type="booking.rescheduled", booking_id=booking["id"])["items"])[0]
    assert (logged["status"], logged["reaction"]) == ("done", "refund_booking")
    envelope = {key: logged[key] for key in ("event_id", "type", "version", "source",
                                             "occurred_at", "payload")}
    publish(config["AMQP_URI"], [envelope])                     # the broker delivers it again
    assert stays_true(lambda: refunded() == 240000, seconds=3)
    assert len(operator.payments.get_payment(payment["id"])["refunds"]) == 1


def soon_start():
    """A quarter hour within the next day (the hall below is open around the clock)."""
    now = datetime.now(MSK) + timedelta(hours=2)
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(
        minutes=15 * math.ceil((now.minute + now.second / 60) / 15))
    if start.hour >= 23:
        start = start.replace(hour=1, minute=0) + timedelta(days=1)
    return start


def test_after_the_deadline_the_customer_is_refused_and_the_operator_is_not(api, operator):
    hall = operator.booking.create_hall({
        "name": f"Night hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
        "opening_hours": {"default": ["00:00", "24:00"]},
        "tariff": {"hourly_price": 240000, "rules": []}})
    start = soon_start()
    created = api.post("/api/bookings", json={
        **body(hall, "x", "y"), "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat()})
    assert created.status_code == 201, created.text
    booking = created.json()
    later = start + timedelta(minutes=15)
    new_time = {"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()}
    path = f"/api/bookings/{booking['id']}/reschedule"
    refused = api.post(path, token=booking["access_token"], json=new_time)
    assert refused.status_code == 409 and refused.json()["error"] == "reschedule_too_late"
    assert api.post(path, admin=True, json=new_time).status_code == 200


def test_a_customer_may_move_a_booking_twice_then_asks_the_studio(api, hall):
    booking = booked(api, hall, "10:00", "11:00")
    assert move(api, booking, "12:00", "13:00").status_code == 200
    assert move(api, booking, "14:00", "15:00").status_code == 200
    third = move(api, booking, "16:00", "17:00")
    assert third.status_code == 409 and third.json()["error"] == "reschedule_limit_reached"
    assert move(api, booking, "16:00", "17:00", token=False).status_code == 200


def test_a_repeat_with_the_same_idempotency_key_answers_the_first_move(api, hall):
    booking = booked(api, hall, "10:00", "11:00")
    key = str(uuid.uuid4())
    first = move(api, booking, "12:00", "13:00", key=key)
    again = move(api, booking, "12:00", "13:00", key=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    now = api.get(f"/api/bookings/{booking['id']}", token=booking["access_token"]).json()
    assert now["revision"] == first.json()["revision"]          # moved once
    other = move(api, booking, "14:00", "15:00", key=key)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"


@pytest.mark.parametrize("change, field", [
    ({"start": f"{TUESDAY}T21:30", "end": f"{TUESDAY}T23:00"}, "end"),
    ({"start": f"{TUESDAY}T10:05", "end": f"{TUESDAY}T11:05"}, "start"),
    ({"keep_price": True}, "keep_price"),
])
def test_a_move_the_rules_refuse_says_why_by_field(api, hall, change, field):
    booking = booked(api, hall, "10:00", "11:00")
    refused = api.post(f"/api/bookings/{booking['id']}/reschedule",
                       token=booking["access_token"],
                       json={"start": f"{TUESDAY}T12:00", "end": f"{TUESDAY}T13:00", **change})
    assert refused.status_code == 422 and field in refused.json()["details"], refused.text


def test_another_bookings_token_cannot_move_it(api, hall):
    mine, theirs = booked(api, hall, "10:00", "11:00"), booked(api, hall, "12:00", "13:00")
    refused = move(api, mine, "15:00", "16:00", token=theirs["access_token"])
    assert refused.status_code == 403


def test_the_customer_and_the_feed_hear_of_the_move(api, hall, operator):
    token = api.post(f"/api/halls/{hall['id']}/feed-token", admin=True).json()["feed_token"]
    booking = booked(api, hall, "10:00", "12:00")
    operator.booking.confirm_at_desk(booking["id"])
    feed_path = f"/ical/halls/{hall['id']}.ics"

    def event_of_booking():
        document = api.get(feed_path, params={"token": token}).content
        return next(e for e in icalendar.Calendar.from_ical(document).walk("VEVENT")
                    if booking["id"] in str(e["UID"]))
    before = event_of_booking()
    assert move(api, booking, "15:00", "17:00", token=False,
                reason="the studio's own shoot").status_code == 200
    after = event_of_booking()
    assert after["UID"] == before["UID"] and after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTART").astimezone(MSK).isoformat() == f"{TUESDAY}T15:00:00+03:00"

    def rescheduled_messages():
        return [n for n in operator.notifications.list_notifications(
            booking_id=booking["id"])["items"] if "rescheduled" in n["template"]]
    messages = wait_until(lambda: len(rescheduled_messages()) >= 2 and rescheduled_messages())
    customer = next(m for m in messages if m["template"] == "booking_rescheduled")
    assert "15:00" in customer["text"] and "10:00" in customer["text"]
    studio = next(m for m in messages if m["template"] == "studio_booking_rescheduled")
    assert "the studio's own shoot" in studio["text"]
