"""Notifications through the whole running system: bookings made over HTTP are announced,
operators list and send through the gateway. Telegram and SMTP are not configured in the
shared system, so every channel only logs; what is sent and to whom is read from the records."""
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, text

from contracts.events import make_envelope
from tests.amqp import publish_envelope, wait_until

DAY = date.today() + timedelta(weeks=3)
DAY += timedelta(days=(2 - DAY.weekday()) % 7)      # a Wednesday three weeks ahead


@pytest.fixture(scope="module")
def hall(operator):
    return operator.booking.create_hall({
        "name": f"Notifications hall {uuid.uuid4()}", "capacity": 4, "buffer_minutes": 0,
        "tariff": {"hourly_price": 200000, "rules": []}})


def book(api, hall, start, end, **contacts):
    customer = {"name": "Вера", "phone": "+7 903 111-22-33", **contacts}
    answer = api.post("/api/bookings", json={"hall_id": hall["id"], "start": f"{DAY}T{start}",
                                             "end": f"{DAY}T{end}", "customer": customer})
    assert answer.status_code == 201, answer.text
    return answer.json()


def listed(api, **params):
    answer = api.get("/api/notifications", admin=True, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_notifications_need_the_operators_token(api):
    assert api.get("/api/notifications").status_code == 401
    assert api.get("/api/notifications", token="guess").status_code == 403
    send = {"channel": "log", "recipient": "desk", "text": "hi"}
    assert api.post("/api/notifications/send", json=send).status_code == 401
    refused = api.post("/api/notifications/send", json=send, token="guess")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


def test_a_confirmed_booking_is_announced_to_its_customer_and_the_studio(api, hall):
    booking = book(api, hall, "10:00", "12:00", email="vera@example.com",
                   telegram_chat_id="5550123")
    confirmed = api.post(f"/api/bookings/{booking['id']}/confirm", admin=True,
                         json={"payment_id": f"desk-{uuid.uuid4()}"})
    assert confirmed.status_code == 200, confirmed.text

    def all_sent():
        found = [i for i in listed(api, booking_id=booking["id"])["items"]
                 if i["template"] != "booking_held"]   # the hold, told on creation
        return found if len(found) == 3 and all(i["status"] == "sent" for i in found) else None

    found = wait_until(all_sent, 20)
    assert found, listed(api, booking_id=booking["id"])
    assert sorted((i["audience"], i["channel"], i["recipient"], i["template"]) for i in found) == [
        ("customer", "email", "vera@example.com", "booking_confirmed"),
        ("customer", "telegram", "5550123", "booking_confirmed"),
        ("studio", "log", "studio", "studio_booking_confirmed")]
    customer_text = next(i["text"] for i in found if i["audience"] == "customer")
    assert customer_text.startswith(f"Бронь подтверждена: «{hall['name']}»")
    assert "10:00 до 12:00" in customer_text    # the studio's time zone


def test_a_payment_message_gets_the_booking_from_the_booking_service(api, hall, config,
                                                                     databases):
    booking = book(api, hall, "13:00", "14:00", email="payer@example.com")
    # notifications keeps no copy of an unpaid booking: only RPC can tell it.
    engine = create_engine(databases["notifications"])
    try:
        assert _forget_copy(engine, booking["id"]) == 0
    finally:
        engine.dispose()
    failed = make_envelope("payments", "payment.failed", {
        "payment_id": f"pay-{uuid.uuid4()}", "booking_id": booking["id"], "kind": "prepayment",
        "amount": booking["prepayment_amount"], "currency": "RUB", "gateway": "mock",
        "status": "failed", "refunded_amount": 0})
    publish_envelope(config["AMQP_URI"], "payments.events", failed)

    found = wait_until(lambda: [i for i in listed(api, booking_id=booking["id"])["items"]
                                if i["template"] == "payment_failed"], 20)
    assert found
    [item] = found
    assert item["recipient"] == "payer@example.com"
    assert item["text"].startswith(f"Оплата не прошла: «{hall['name']}», {DAY:%d.%m.%Y} в 13:00")


def test_an_operator_sends_a_text_and_sees_it_sent(api):
    chat = str(uuid.uuid4().int % 10 ** 9)
    answer = api.post("/api/notifications/send", admin=True,
                      json={"channel": "telegram", "recipient": chat, "text": "Ключи у охраны"})
    assert answer.status_code == 202, answer.text
    [item] = answer.json()["items"]
    assert (item["channel"], item["recipient"], item["template"], item["status"]) == (
        "telegram", chat, "free_text", "pending")

    def sent():
        return [i for i in listed(api, channel="telegram", status="sent", limit=200)["items"]
                if i["id"] == item["id"]]

    [done] = wait_until(sent, 20)
    assert done["text"] == "Ключи у охраны" and done["attempts"] == 1 and done["sent_at"]


def test_an_idempotency_key_makes_a_repeated_send_one_message(api):
    chat = str(uuid.uuid4().int % 10 ** 9)
    body = {"channel": "telegram", "recipient": chat, "text": "Зал готов"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/notifications/send", admin=True, json=body, headers=dict(key))
    again = api.post("/api/notifications/send", admin=True, json=body, headers=dict(key))
    assert first.status_code == again.status_code == 202
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in first.json()["items"]]
    other = api.post("/api/notifications/send", admin=True, headers=dict(key),
                     json={**body, "text": "Зал не готов"})
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert len([i for i in listed(api, channel="telegram", limit=200)["items"]
                if i["recipient"] == chat]) == 1


def test_an_operator_sends_a_template_to_a_bookings_customer(api, hall):
    booking = book(api, hall, "15:00", "16:00", email="remind@example.com",
                   telegram_chat_id="5550456")
    answer = api.post("/api/notifications/send", admin=True,
                      json={"booking_id": booking["id"], "template": "reminder"})
    assert answer.status_code == 202, answer.text
    found = answer.json()["items"]
    assert sorted((i["channel"], i["recipient"]) for i in found) == [
        ("email", "remind@example.com"), ("telegram", "5550456")]
    assert all(i["text"].startswith(f"Напоминание: «{hall['name']}»") for i in found)

    only_email = api.post("/api/notifications/send", admin=True, json={
        "booking_id": booking["id"], "template": "booking_confirmed", "channel": "email"})
    assert [i["channel"] for i in only_email.json()["items"]] == ["email"]


def test_a_template_for_an_unknown_booking_is_404(api):
    answer = api.post("/api/notifications/send", admin=True,
                      json={"booking_id": str(uuid.uuid4()), "template": "reminder"})
    assert answer.status_code == 404 and answer.json()["error"] == "booking_not_found"


def test_a_customer_without_that_channel_is_422(api, hall):
    booking = book(api, hall, "17:00", "18:00", email="only-mail@example.com")
    answer = api.post("/api/notifications/send", admin=True, json={
        "booking_id": booking["id"], "template": "reminder", "channel": "telegram"})
    assert answer.status_code == 422 and answer.json()["error"] == "no_recipient"
    assert "channel" in answer.json()["details"]


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"text": "hi"}, "channel"),
    ({"channel": "telegram", "text": "hi"}, "recipient"),
    ({"channel": "email", "recipient": "nobody", "text": "hi"}, "recipient"),
    ({"booking_id": "x", "template": "no_such_template"}, "template"),
    ({"template": "reminder"}, "booking_id"),
    ({"channel": "log", "recipient": "x", "text": "hi", "colour": "red"}, "colour"),
])
def test_a_send_of_neither_shape_is_422_naming_the_field(api, body, field):
    answer = api.post("/api/notifications/send", admin=True, json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["details"], answer.json()


def test_a_listing_with_a_bad_filter_is_422(api):
    answer = api.get("/api/notifications", admin=True, params={"status": "lost"})
    assert answer.status_code == 422 and "status" in answer.json()["details"]
    answer = api.get("/api/notifications", admin=True, params={"cursor": "nonsense"})
    assert answer.status_code == 422 and "cursor" in answer.json()["details"]


def test_listing_pages_with_the_cursor(api):
    for n in range(3):
        api.post("/api/notifications/send", admin=True,
                 json={"channel": "log", "recipient": "paging", "text": f"page {n}"})
    first = listed(api, channel="log", limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = listed(api, channel="log", limit=2, cursor=first["next_cursor"])
    assert second["items"] and second["items"][0]["id"] < first["items"][-1]["id"]


def test_the_openapi_document_describes_the_notifications_routes(api):
    paths = api.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/notifications"]) == {"get"}
    assert "202" in paths["/api/notifications/send"]["post"]["responses"]


def _forget_copy(engine, booking_id):
    with engine.begin() as conn:
        return conn.execute(text("DELETE FROM booking_copies WHERE booking_id = :b"),
                            {"b": booking_id}).rowcount


def test_every_event_so_far_was_handled(operator):
    # Runs last in this module: nothing the system emitted is waiting or parked.
    assert operator.notifications.list_failed_events() == []
    assert operator.notifications.list_dead_events() == []
