"""The notifications use cases against a real PostgreSQL database of their own, with the clock
and the channels in the test's hand."""
import threading
import uuid
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors.base import IdempotencyKeyReused, NotFound, ServiceUnavailable
from contracts.errors.notifications import InvalidNotification, NoRecipient, UnknownTemplate
from contracts.events import make_envelope
from contracts.ical import CalendarSettings, calendar_link
from contracts.notifications import NotificationEventPayloadSchema
from services.common.db import Listener
from services.common.inbox import InboxRunner
from services.notifications import operations, store
from services.notifications.channels import PermanentDelivery, RetryableDelivery
from services.notifications.messages import render
from services.notifications.operations import Claim, Outcome, Settings
from tests.databases import own_database
from tests.service.one_session import OneSession

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
BOT_TOKEN = "7654321:AAH-secret-bot-token_xyz"
SMTP_PASSWORD = "s3cret-smtp-pa55"
STUDIO = (("telegram", "-1001"), ("email", "desk@studio.example"))
SETTINGS = Settings(language="ru", timezone="Europe/Moscow", studio_recipients=STUDIO,
                    max_attempts=3, backoff_base_seconds=2, backoff_cap_seconds=60,
                    secrets=(BOT_TOKEN, SMTP_PASSWORD))
INBOX = {"inbox_max_attempts": 3, "inbox_backoff_base_seconds": 1,
         "inbox_backoff_cap_seconds": 10}


@pytest.fixture(scope="module")
def engine(config):
    # Its own database: the running system's courier must not deliver these rows.
    with own_database(config, "notifications", "ops") as engine:
        yield engine


@pytest.fixture
def session(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE notifications, booking_copies, outbox, inbox"))
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


def booking_payload(start=NOW + timedelta(days=2), status="confirmed", **customer):
    customer = customer or {"name": "Анна", "phone": "+79990001122",
                            "email": "anna@example.com", "telegram_chat_id": "424242"}
    return {"booking_id": str(uuid.uuid4()), "hall_id": 1, "hall_name": "Белый зал",
            "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(),
            "status": status, "price_total": 450000, "prepayment_amount": 135000,
            "amount_paid": 135000, "currency": "RUB", "customer": customer}


def booking_event(event_type, payload, occurred_at=NOW):
    return make_envelope("booking", event_type, {**payload, "status": event_type.split(".")[1]},
                         occurred_at=occurred_at)


def payment_event(event_type, booking_id, **changes):
    return make_envelope("payments", event_type, {
        "payment_id": "pay-1", "booking_id": booking_id, "kind": "prepayment",
        "amount": 135000, "currency": "RUB", "gateway": "tinkoff",
        "status": event_type.split(".")[1], "refunded_amount": 135000, **changes})


def rows(session, **where):
    sql = "SELECT * FROM notifications"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = :{k}" for k in where)
    return session.execute(text(sql + " ORDER BY id"), where).mappings().all()


def outbox(session, event_type):
    return [r.envelope for r in session.execute(text(
        "SELECT envelope FROM outbox WHERE type = :t ORDER BY id"), {"t": event_type})]


class ScriptedChannel:
    """A channel that fails as told, then delivers; keeps what it delivered."""

    def __init__(self, *failures):
        self.failures = list(failures)
        self.sent = []

    def send(self, recipient, text, **attachments):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((recipient, text, *attachments.values()))
        return str(len(self.sent))


def deliver_all(session, channels, now, settings=SETTINGS):
    claims, _ = operations.claim_due(session, settings, now, 100)
    session.commit()
    for claim in claims:
        outcome = operations.deliver(claim, channels, settings)
        operations.record_outcome(session, settings, claim, outcome, now)
        session.commit()
    return claims


# --- recording ---------------------------------------------------------------------------------

def test_confirmed_booking_is_recorded_for_the_customer_and_the_studio(session):
    payload = booking_payload(start=datetime(2026, 11, 22, 15, 30, tzinfo=timezone.utc))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    session.commit()

    recorded = rows(session, booking_id=payload["booking_id"])
    assert [(r.audience, r.channel, r.recipient, r.template, r.status, r.attempts)
            for r in recorded] == [
        ("customer", "telegram", "424242", "booking_confirmed", "pending", 0),
        ("customer", "email", "anna@example.com", "booking_confirmed", "pending", 0),
        ("studio", "telegram", "-1001", "studio_booking_confirmed", "pending", 0),
        ("studio", "email", "desk@studio.example", "studio_booking_confirmed", "pending", 0)]
    assert recorded[0].text.splitlines()[0] == \
        "Бронь подтверждена: «Белый зал», 22.11.2026 в 18:30"   # Moscow time
    assert "Клиент: Анна, телефон +79990001122" in recorded[2].text


def test_messages_follow_the_configured_language(session):
    payload = booking_payload()
    english = Settings(language="en", studio_recipients=STUDIO)
    operations.announce_booking_event(session, english, booking_event("booking.cancelled",
                                                                      payload), NOW)
    assert rows(session)[0].text.startswith("Booking cancelled: Белый зал")


def test_messages_recorded_wake_the_couriers_at_commit_and_a_repeat_wakes_nobody(session,
                                                                                 engine):
    listener = Listener(engine.url.render_as_string(hide_password=False), store.WAKE_CHANNEL)
    try:
        event = booking_event("booking.confirmed", booking_payload())
        assert operations.announce_booking_event(session, SETTINGS, event, NOW)
        assert not listener.wait(0.2)   # not before the commit
        session.commit()
        assert listener.wait(5)
        assert operations.announce_booking_event(session, SETTINGS, event, NOW) == []
        session.commit()
        assert not listener.wait(0.3)
    finally:
        listener.close()


def test_a_repeated_event_records_nothing_more(session):
    envelope = booking_event("booking.confirmed", booking_payload())

    class Service:
        db = OneSession(session)

        @staticmethod
        def booking_confirmed(session, event):
            operations.announce_booking_event(session, SETTINGS, event, NOW)

    Service.booking_confirmed.inbox_handler = lambda service, s, e: \
        Service.booking_confirmed(s, e)
    runner = InboxRunner(INBOX)
    assert runner.handle(Service(), "booking_confirmed", envelope) == "done"
    assert runner.handle(Service(), "booking_confirmed", envelope) == "skipped"
    # Even past the inbox (say, by an operator's forced retry), the unique key holds.
    assert operations.announce_booking_event(session, SETTINGS, envelope, NOW) == []
    assert len(rows(session)) == 4


def test_a_customer_with_only_a_phone_is_not_messaged_but_the_studio_is(session):
    payload = booking_payload(name="Олег", phone="+79990001122")
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.expired",
                                                                       payload), NOW)
    assert {(r.audience, r.template) for r in rows(session)} == {
        ("studio", "studio_booking_expired")}


def test_without_studio_contacts_the_studio_message_goes_to_the_log(session):
    payload = booking_payload()
    operations.announce_booking_event(session, Settings(), booking_event("booking.cancelled",
                                                                         payload), NOW)
    studio = rows(session, audience="studio")
    assert [(r.channel, r.recipient) for r in studio] == [("log", "studio")]


def test_a_payment_message_takes_the_booking_from_the_booking_service(session):
    payload = booking_payload()
    view = {**payload, "id": payload.pop("booking_id")}   # as get_booking answers
    asked = []

    def ask_booking(booking_id):
        asked.append(booking_id)
        return view

    operations.announce_payment_event(session, SETTINGS,
                                      payment_event("payment.failed", view["id"]),
                                      ask_booking, NOW)
    assert asked == [view["id"]]
    customer = rows(session, audience="customer")
    assert {r.channel for r in customer} == {"telegram", "email"}
    assert customer[0].text.startswith("Оплата не прошла: «Белый зал»")
    assert "Предоплата 1\u00a0350,00\u00a0₽ не прошла." in customer[0].text
    assert "через tinkoff" in rows(session, audience="studio")[0].text


def test_a_payment_message_uses_our_copy_when_booking_does_not_answer(session):
    payload = booking_payload(status="pending_payment")
    operations.remember_booking(session, booking_event("booking.created", payload))

    def booking_away(booking_id):
        raise ServiceUnavailable("booking did not answer in time", {"service": "booking"})

    operations.announce_payment_event(
        session, SETTINGS, payment_event("payment.refunded", payload["booking_id"]),
        booking_away, NOW)
    customer = rows(session, audience="customer")
    assert len(customer) == 2 and "«Белый зал»" in customer[0].text
    assert customer[0].template == "payment_refunded"


def test_a_payment_for_an_unknown_booking_waits_while_booking_does_not_answer(session):
    def booking_away(booking_id):
        raise ServiceUnavailable("booking did not answer in time", {"service": "booking"})

    with pytest.raises(ServiceUnavailable):  # the inbox keeps the event and tries again
        operations.announce_payment_event(
            session, SETTINGS, payment_event("payment.failed", str(uuid.uuid4())),
            booking_away, NOW)


def test_a_payment_for_a_booking_that_does_not_exist_is_told_to_the_studio_only(session):
    def no_such_booking(booking_id):
        raise NotFound("no booking", {"booking_id": booking_id})

    operations.announce_payment_event(
        session, SETTINGS, payment_event("payment.failed", str(uuid.uuid4())),
        no_such_booking, NOW)
    assert {r.audience for r in rows(session)} == {"studio"}
    assert rows(session)[0].text.startswith("Оплата не прошла: 1\u00a0350,00\u00a0₽")


def test_an_amount_mismatch_alerts_the_studio_and_tells_the_customer_nothing(session):
    payload = booking_payload()
    view = {**payload, "id": payload.pop("booking_id")}
    operations.announce_payment_event(
        session, SETTINGS, payment_event("payment.amount_mismatch", view["id"],
                                         reported_amount=100, reported_currency="RUB"),
        lambda booking_id: view, NOW)
    assert {r.audience for r in rows(session)} == {"studio"}
    assert rows(session)[0].text.startswith(
        "Проверьте платёж: пришло 1,00\u00a0₽ вместо 1\u00a0350,00\u00a0₽")


def test_a_refused_refund_alerts_the_studio_and_tells_the_customer_nothing(session):
    payload = booking_payload()
    view = {**payload, "id": payload.pop("booking_id")}
    event = payment_event("payment.refund_failed", view["id"], status="succeeded",
                          refunded_amount=0, refund_id="r-7", refund_amount=40000)
    operations.announce_payment_event(session, SETTINGS, event, lambda booking_id: view, NOW)
    alerts = rows(session, event_id=event["event_id"])
    assert alerts and {a.audience for a in alerts} == {"studio"}  # each studio channel
    for alert in alerts:
        assert alert.text.startswith("Возврат не прошёл: 400,00\u00a0₽ по платежу pay-1")
        assert "r-7" in alert.text and "«Белый зал»" in alert.text


# --- delivery -----------------------------------------------------------------------------------

def _one_pending(session, channel="telegram", recipient="424242"):
    result = operations.send(session, SETTINGS, {"channel": channel, "recipient": recipient,
                                                 "text": "Тема\n\nТекст"}, None, NOW)
    session.commit()
    return result["items"][0]


def test_a_delivered_notification_is_sent_and_announced(session):
    item = _one_pending(session)
    telegram = ScriptedChannel()

    deliver_all(session, {"telegram": telegram}, NOW + timedelta(seconds=1))

    assert telegram.sent == [("424242", "Тема\n\nТекст")]
    [row] = rows(session)
    assert (row.status, row.attempts, row.last_error, row.provider_message_id) == (
        "sent", 1, None, "1")
    assert row.sent_at == NOW + timedelta(seconds=1)
    [event] = outbox(session, "notification.sent")
    assert event["payload"] == {
        "notification_id": item["id"], "booking_id": None, "event_id": item["event_id"],
        "channel": "telegram", "recipient": "424242", "template": "free_text",
        "status": "sent", "attempts": 1, "last_error": None}
    NotificationEventPayloadSchema().load(event["payload"])
    # Sent is final: nothing is due any more.
    assert deliver_all(session, {"telegram": telegram}, NOW + timedelta(days=1)) == []


def test_a_rate_limit_is_waited_out_for_the_time_telegram_names(session):
    _one_pending(session)
    telegram = ScriptedChannel(RetryableDelivery("Telegram answered 429", retry_after=7))

    deliver_all(session, {"telegram": telegram}, NOW)
    [row] = rows(session)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending", 1, NOW + timedelta(seconds=7))
    assert outbox(session, "notification.sent") == outbox(session, "notification.failed") == []

    assert deliver_all(session, {"telegram": telegram}, NOW + timedelta(seconds=6)) == []
    deliver_all(session, {"telegram": telegram}, NOW + timedelta(seconds=7))
    [row] = rows(session)
    assert (row.status, row.attempts) == ("sent", 2)


def test_server_errors_are_retried_with_backoff_and_fail_after_max_attempts(session):
    _one_pending(session)
    telegram = ScriptedChannel(*[RetryableDelivery("Telegram answered 500")] * 5)
    moment = NOW
    for expected_wait in (2, 4):
        deliver_all(session, {"telegram": telegram}, moment)
        [row] = rows(session)
        assert row.status == "pending"
        assert row.next_attempt_at == moment + timedelta(seconds=expected_wait)
        moment = row.next_attempt_at
    deliver_all(session, {"telegram": telegram}, moment)
    [row] = rows(session)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "Telegram answered 500")
    [event] = outbox(session, "notification.failed")
    assert event["payload"]["status"] == "failed" and event["payload"]["attempts"] == 3
    assert deliver_all(session, {"telegram": telegram}, moment + timedelta(days=1)) == []


def test_a_permanent_refusal_fails_at_once(session):
    _one_pending(session)
    telegram = ScriptedChannel(PermanentDelivery("Telegram answered 400: chat not found"))
    deliver_all(session, {"telegram": telegram}, NOW)
    [row] = rows(session)
    assert (row.status, row.attempts) == ("failed", 1)
    assert outbox(session, "notification.failed")[0]["payload"]["last_error"] == \
        "Telegram answered 400: chat not found"


def test_no_secret_reaches_the_record_or_the_event(session):
    _one_pending(session)
    _one_pending(session, channel="email", recipient="anna@example.com")
    channels = {
        "telegram": ScriptedChannel(PermanentDelivery(f"bad url /bot{BOT_TOKEN}/sendMessage")),
        "email": ScriptedChannel(ValueError(f"login {SMTP_PASSWORD} refused"))}
    settings = Settings(max_attempts=1, secrets=(BOT_TOKEN, SMTP_PASSWORD))
    deliver_all(session, channels, NOW, settings)
    stored = " ".join(r.last_error for r in rows(session))
    assert "<secret>" in stored
    assert BOT_TOKEN not in stored and SMTP_PASSWORD not in stored
    published = str(outbox(session, "notification.failed"))
    assert BOT_TOKEN not in published and SMTP_PASSWORD not in published


def test_two_couriers_never_claim_the_same_notification(engine, session):
    for n in range(6):
        _one_pending(session, recipient=str(100 + n))
    claimed, barrier = [], threading.Barrier(2)

    def courier():
        with Session(engine) as own:
            barrier.wait()
            claimed.append([c.id for c in operations.claim_due(own, SETTINGS, NOW, 4)[0]])
            own.commit()

    threads = [threading.Thread(target=courier) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = claimed[0] + claimed[1]
    assert len(ids) == len(set(ids)) == 6


def test_a_claim_tells_when_the_next_notification_not_taken_falls_due(session):
    # nothing pending: no time (the courier waits its interval)
    assert operations.claim_due(session, SETTINGS, NOW, 10) == ([], None)
    first, second = _one_pending(session, recipient="1"), _one_pending(session, recipient="2")
    later = NOW + timedelta(seconds=SETTINGS.delivery_lease_seconds / 2)
    session.execute(text("UPDATE notifications SET next_attempt_at = :later WHERE id = :id"),
                    {"later": later, "id": second["id"]})
    session.commit()

    # the one taken does not count, though it was due before the statement ran
    claims, next_due_at = operations.claim_due(session, SETTINGS, NOW, 10)
    session.commit()
    assert [c.id for c in claims] == [first["id"]] and next_due_at == later
    # the second taken in its turn: next is when the first one's claim lapses
    claims, next_due_at = operations.claim_due(session, SETTINGS, later, 10)
    session.commit()
    assert [c.id for c in claims] == [second["id"]]
    assert next_due_at == NOW + timedelta(seconds=SETTINGS.delivery_lease_seconds)


def test_a_lapsed_claim_is_taken_again_and_the_late_outcome_is_ignored(session):
    _one_pending(session)
    [first], _ = operations.claim_due(session, SETTINGS, NOW, 10)
    session.commit()
    lapsed = NOW + timedelta(seconds=SETTINGS.delivery_lease_seconds)
    [second], _ = operations.claim_due(session, SETTINGS, lapsed, 10)
    session.commit()
    assert (first.attempts, second.attempts) == (1, 2)

    assert operations.record_outcome(session, SETTINGS, first, Outcome("sent"), lapsed) is None
    operations.record_outcome(session, SETTINGS, second, Outcome("sent"), lapsed)
    session.commit()
    assert rows(session)[0].attempts == 2
    assert len(outbox(session, "notification.sent")) == 1


def test_an_unknown_channel_fails(session):
    outcome = operations.deliver(Claim(1, "pigeon", "x", "hi", 1), {}, SETTINGS)
    assert outcome.status == "failed" and "pigeon" in outcome.error


# --- reminders -----------------------------------------------------------------------------------

def test_one_reminder_a_day_before_a_confirmed_booking(session):
    payload = booking_payload(start=NOW + timedelta(days=3))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    session.commit()

    assert operations.record_due_reminders(session, SETTINGS, NOW) == 0
    the_day_before = NOW + timedelta(days=2, minutes=1)
    assert operations.record_due_reminders(session, SETTINGS, the_day_before) == 1
    session.commit()
    for later in (the_day_before + timedelta(minutes=5), the_day_before + timedelta(hours=5)):
        assert operations.record_due_reminders(session, SETTINGS, later) == 0
        session.commit()

    reminders = rows(session, template="reminder")
    assert [(r.channel, r.recipient) for r in reminders] == [
        ("telegram", "424242"), ("email", "anna@example.com")]
    assert reminders[0].text.startswith("Напоминание: «Белый зал»")
    assert {str(r.event_id) for r in reminders} == {
        operations.reminder_event_id(payload["booking_id"])}


def test_a_reminder_is_never_recorded_twice_even_if_the_booking_is_confirmed_again(session):
    payload = booking_payload(start=NOW + timedelta(hours=3))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    operations.record_due_reminders(session, SETTINGS, NOW)
    # Expired, then confirmed again by a late payment: a fresh copy, not a second reminder.
    later = NOW + timedelta(minutes=1)
    for event_type in ("booking.expired", "booking.confirmed"):
        later += timedelta(seconds=1)
        operations.announce_booking_event(session, SETTINGS,
                                          booking_event(event_type, payload, later), later)
    operations.record_due_reminders(session, SETTINGS, later)
    assert len(rows(session, template="reminder")) == 2   # telegram + email, once


def test_a_cancelled_booking_gets_no_reminder_even_if_the_cancellation_came_first(session):
    payload = booking_payload(start=NOW + timedelta(hours=3))
    operations.announce_booking_event(
        session, SETTINGS, booking_event("booking.cancelled", payload, NOW), NOW)
    # booking.confirmed happened earlier but arrives late: the copy stays cancelled.
    operations.announce_booking_event(
        session, SETTINGS, booking_event("booking.confirmed", payload,
                                         NOW - timedelta(minutes=5)), NOW)
    assert operations.record_due_reminders(session, SETTINGS, NOW) == 0


def test_a_booking_that_has_started_gets_no_reminder(session):
    payload = booking_payload(start=NOW - timedelta(minutes=15))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    assert operations.record_due_reminders(session, SETTINGS, NOW) == 0


# --- operators ------------------------------------------------------------------------------------

def test_notifications_are_listed_newest_first_filtered_and_paged(session):
    payload = booking_payload()
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    _one_pending(session)
    session.commit()

    mine = operations.list_notifications(session, SETTINGS,
                                         {"booking_id": payload["booking_id"], "limit": 3})
    assert len(mine["items"]) == 3 and mine["next_cursor"]
    assert mine["items"][0]["recipient"] == "desk@studio.example"
    rest = operations.list_notifications(session, SETTINGS, {
        "booking_id": payload["booking_id"], "cursor": mine["next_cursor"]})
    assert [i["recipient"] for i in rest["items"]] == ["424242"]
    assert rest["next_cursor"] is None

    emails = operations.list_notifications(session, SETTINGS, {"channel": "email"})["items"]
    assert {i["channel"] for i in emails} == {"email"} and len(emails) == 2
    assert operations.list_notifications(session, SETTINGS, {"status": "sent"})["items"] == []
    item = emails[0]
    assert item["status"] == "pending" and item["created_at"].endswith("+03:00")


def test_a_foreign_cursor_or_status_is_refused_by_field(session):
    with pytest.raises(InvalidNotification) as bad:
        operations.list_notifications(session, SETTINGS, {"cursor": "garbage"})
    assert "cursor" in bad.value.details
    with pytest.raises(InvalidNotification) as bad:
        operations.list_notifications(session, SETTINGS, {"status": "lost"})
    assert "status" in bad.value.details


def test_an_operator_sends_a_template_to_the_bookings_customer(session):
    payload = booking_payload()
    view = {**payload, "id": payload.pop("booking_id")}
    request = operations.parse_send_request({"booking_id": view["id"], "template": "reminder",
                                             "channel": "email"})
    result = operations.send(session, SETTINGS, request, view, NOW)
    [item] = result["items"]
    assert (item["channel"], item["recipient"], item["template"], item["audience"]) == (
        "email", "anna@example.com", "reminder", "customer")
    assert item["booking_id"] == view["id"] and "«Белый зал»" in item["text"]
    # Each send is its own message.
    assert len(operations.send(session, SETTINGS, request, view, NOW)["items"]) == 1


def test_a_send_with_a_request_id_is_recorded_once_and_its_repeat_answers_the_same(session):
    text = operations.parse_send_request({"channel": "telegram", "recipient": "4242",
                                          "text": "Ключи у охраны"})
    key = str(uuid.uuid4())
    first = operations.send(session, SETTINGS, text, None, NOW, request_id=key)
    again = operations.send(session, SETTINGS, text, None, NOW, request_id=key)
    assert first == again and len(first["items"]) == 1
    other = {**text, "text": "Ключи у администратора"}
    with pytest.raises(IdempotencyKeyReused):
        operations.send(session, SETTINGS, other, None, NOW, request_id=key)

    payload = booking_payload()
    view = {**payload, "id": payload.pop("booking_id")}
    reminder = operations.parse_send_request({"booking_id": view["id"], "template": "reminder"})
    key = str(uuid.uuid4())
    sent = operations.send(session, SETTINGS, reminder, view, NOW, request_id=key)
    assert operations.send(session, SETTINGS, reminder, view, NOW, request_id=key) == sent
    with pytest.raises(IdempotencyKeyReused):
        operations.send(session, SETTINGS, {**reminder, "template": "booking_confirmed"}, view,
                        NOW, request_id=key)
    assert len(operations.send(session, SETTINGS, reminder, view, NOW)["items"]) == len(
        sent["items"])  # without a request id: a new message


def test_a_template_for_a_customer_without_that_channel_is_refused(session):
    payload = booking_payload(name="Олег", phone="+79990001122", email="o@example.com")
    request = operations.parse_send_request({"booking_id": payload["booking_id"],
                                             "template": "reminder", "channel": "telegram"})
    with pytest.raises(NoRecipient) as refused:
        operations.send(session, SETTINGS, request, payload, NOW)
    assert "channel" in refused.value.details


@pytest.mark.parametrize("request_, field", [
    ({}, "_schema"),
    ({"channel": "telegram", "text": "hi"}, "recipient"),
    ({"channel": "telegram", "recipient": "@anna", "text": "hi"}, "recipient"),
    ({"channel": "email", "recipient": "not-an-address", "text": "hi"}, "recipient"),
    ({"channel": "sms", "recipient": "+7999", "text": "hi"}, "channel"),
    ({"template": "reminder"}, "booking_id"),
    ({"booking_id": "b", "template": "reminder", "recipient": "1"}, "recipient"),
])
def test_a_send_of_neither_shape_is_refused_by_field(request_, field):
    with pytest.raises(InvalidNotification) as refused:
        operations.parse_send_request(request_)
    assert field in refused.value.details


@pytest.mark.parametrize("template", ["nope", "studio_booking_confirmed", "payment_failed"])
def test_an_unknown_template_is_refused_naming_the_field(template):
    with pytest.raises(UnknownTemplate) as refused:
        operations.parse_send_request({"booking_id": "b", "template": template})
    assert list(refused.value.details) == ["template"]
    assert refused.value.code == "unknown_template"


def test_settings_come_from_config_with_secrets_kept_for_scrubbing(config):
    section = {**config["NOTIFICATIONS"], "studio": {"telegram_chat_id": -100500, "email": ""},
               "channels": {"telegram": {"bot_token": BOT_TOKEN},
                            "email": {"host": "smtp", "password": SMTP_PASSWORD}}}
    settings = Settings.from_config({**config, "NOTIFICATIONS": section})
    assert settings.studio_recipients == (("telegram", "-100500"),)
    assert settings.reminder_before == timedelta(hours=24)
    assert settings.language == "ru" and settings.timezone == "Europe/Moscow"
    assert settings.scrub(f"x {BOT_TOKEN} y {SMTP_PASSWORD}") == "x <secret> y <secret>"


def test_the_reminder_says_what_is_due_as_the_booking_service_has_it_now(session):
    payload = booking_payload(start=NOW + timedelta(hours=5))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)
    booking_id = payload.pop("booking_id")
    paid_up = {**payload, "id": booking_id, "amount_paid": payload["price_total"]}
    operations.record_due_reminders(session, SETTINGS, NOW + timedelta(minutes=2),
                                    ask_booking={booking_id: paid_up}.get)
    reminder = rows(session, template="reminder")[0]
    assert "Остаток" not in reminder.text


def test_a_confirmation_email_carries_the_booking_as_ics_and_the_text_a_calendar_link(session):
    settings = Settings(**{**SETTINGS.__dict__, "calendar": CalendarSettings(
        uid_domain="studio.test", link_secret="link-secret", public_url="https://studio.test")})
    payload = {**booking_payload(), "revision": 1}
    operations.announce_booking_event(session, settings,
                                      booking_event("booking.confirmed", payload), NOW)
    session.commit()
    mail, chat = ScriptedChannel(), ScriptedChannel()
    deliver_all(session, {"email": mail, "telegram": chat}, NOW, settings)

    [(_, _, ics)] = [sent for sent in mail.sent if sent[0] == "anna@example.com"]
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["UID"]) == f"booking-{payload['booking_id']}@studio.test"
    assert str(event["STATUS"]) == "CONFIRMED" and event["SEQUENCE"] == 1
    link = calendar_link(payload["booking_id"], settings.calendar)
    assert link.startswith(f"https://studio.test/api/bookings/{payload['booking_id']}/")
    [customer_chat] = [text for recipient, text in chat.sent if recipient == "424242"]
    assert link in customer_chat
    studio_mail = [sent for sent in mail.sent if sent[0] == "desk@studio.example"]
    assert studio_mail and all(len(sent) == 2 for sent in studio_mail)   # no file for the desk


def test_a_disabled_webhook_endpoint_is_told_to_the_studio_once(session):
    event = make_envelope("integration", "webhook.endpoint_disabled", {
        "endpoint_id": 3, "url": "https://crm.example/hooks",
        "reason": "the receiver answered 410 Gone", "failing_since": None})
    operations.announce_studio_alert(session, SETTINGS, event, NOW)
    operations.announce_studio_alert(session, SETTINGS, event, NOW)
    session.commit()
    recorded = rows(session, template="studio_webhook_endpoint_disabled")
    assert [(r.audience, r.channel, r.recipient) for r in recorded] == [
        ("studio", "telegram", "-1001"), ("studio", "email", "desk@studio.example")]
    assert "https://crm.example/hooks" in recorded[0].text.splitlines()[0]


def test_a_reminder_falls_back_to_our_copy_when_booking_does_not_answer(session):
    payload = booking_payload(start=NOW + timedelta(hours=5))
    operations.announce_booking_event(session, SETTINGS, booking_event("booking.confirmed",
                                                                       payload), NOW)

    def booking_away(booking_id):
        raise ServiceUnavailable("booking did not answer in time", {"service": "booking"})

    operations.record_due_reminders(session, SETTINGS, NOW + timedelta(minutes=2),
                                    ask_booking=booking_away)
    reminder = rows(session, template="reminder")[0]
    assert "Остаток к оплате: 3\u00a0150,00\u00a0₽" in reminder.text


# --- the hold ------------------------------------------------------------------------------------

def held_payload(**customer):
    return {**booking_payload(status="pending_payment", **customer), "amount_paid": 0,
            "hold_expires_at": "2026-11-20T09:15:00+00:00"}


def test_a_hold_is_told_with_the_amount_the_pay_by_time_and_the_page(session):
    payload = held_payload()
    settings = Settings(studio_recipients=STUDIO, public_url="https://studio.example")
    operations.record_booking_messages(session, settings,
                                       [booking_event("booking.created", payload)], NOW)
    held = rows(session)
    assert {(r.audience, r.channel, r.template) for r in held} == {
        ("customer", "telegram", "booking_held"), ("customer", "email", "booking_held")}
    text_ = held[0].text
    assert text_.startswith("Бронь ждёт оплаты до 12:15: «Белый зал»")   # Moscow time
    assert "предоплату 1\u00a0350,00\u00a0₽ до 12:15 (20.11.2026)" in text_
    assert f"https://studio.example/b/{payload['booking_id']}" in text_
    english = render("booking_held", {**payload, "booking_url": "https://studio.example/b/1",
                                      "pay_url": "https://studio.example/b/1&do=pay"},
                     "en", "Europe/Moscow")
    assert english.startswith("Your booking awaits payment until 12:15: Белый зал")
    assert "prepayment of 1,350.00\u00a0RUB by 12:15 (20 Nov 2026)" in english


def test_a_hold_of_a_customer_with_a_phone_only_is_not_told_and_no_copy_is_kept(session):
    payload = held_payload(name="Ира", phone="+79990001122")
    operations.record_booking_messages(session, SETTINGS,
                                       [booking_event("booking.created", payload)], NOW)
    assert rows(session) == []
    assert session.execute(text("SELECT count(*) FROM booking_copies")).scalar() == 0


def test_booking_events_that_arrive_together_are_each_told(session):
    confirmed, cancelled = booking_payload(), booking_payload()
    operations.record_booking_messages(session, SETTINGS, [
        booking_event("booking.confirmed", confirmed),
        booking_event("booking.cancelled", cancelled)], NOW)
    assert sorted({(r.booking_id, r.template) for r in rows(session)}) == sorted({
        (confirmed["booking_id"], "booking_confirmed"),
        (confirmed["booking_id"], "studio_booking_confirmed"),
        (cancelled["booking_id"], "booking_cancelled"),
        (cancelled["booking_id"], "studio_booking_cancelled")})
