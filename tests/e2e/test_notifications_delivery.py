"""The notifications service as its own `nameko run` process, in its own vhost and database,
fed real events through RabbitMQ, delivering to a fake Telegram Bot API and a real SMTP
server (aiosmtpd), both on 127.0.0.1."""
import copy
import email
import email.policy
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from contracts.events import make_envelope
from contracts.notifications import NotificationEventPayloadSchema
from scripts.system import System, free_port, rabbitmqctl
from services.common.config import db_uri
from services.common.migrate import drop_database, upgrade
from tests.amqp import EventWatcher, publish_envelope, rpc_client, stays_true, wait_until
from tests.fakes.telegram import FakeTelegram

BOT_TOKEN = "5550001:AAF-notifications-e2e-secret"
STUDIO_CHAT = "-100777"
STUDIO_EMAIL = "desk@studio.example"
RETRY_BASE_SECONDS = 0.3






class SlowTelegram(FakeTelegram):
    """The fake Bot API, answering some chats only after a pause."""

    def __init__(self, token):
        super().__init__(token)
        self.slow_chats = {}
        self.held = []          # chat ids whose answer is being held back right now

    def answer(self, path, raw_body):
        try:
            pause = self.slow_chats.get(str(json.loads(raw_body).get("chat_id")))
        except (ValueError, AttributeError):
            pause = None
        if pause:
            chat = str(json.loads(raw_body)["chat_id"])
            self.held.append(chat)
            time.sleep(pause)
            self.held.remove(chat)
        return super().answer(path, raw_body)


class Mailbox:
    """An aiosmtpd handler keeping each message: recipients, subject and decoded body."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append({"to": list(envelope.rcpt_tos), "subject": message["Subject"],
                              "body": message.get_body(("plain",)).get_content().strip(),
                              "attachments": [(part.get_content_type(), part.get_content())
                                              for part in message.iter_attachments()]})
        return "250 Message accepted for delivery"

    def to(self, address):
        return [m for m in self.received if address in m["to"]]


@pytest.fixture(scope="module")
def notifications(config, vhost):
    own_vhost = f"{vhost}_notifications"
    rabbitmqctl("add_vhost", own_vhost)
    rabbitmqctl("set_permissions", "-p", own_vhost, "guest", ".*", ".*", ".*")
    amqp_uri = config["AMQP_URI"].rsplit("/", 1)[0] + "/" + own_vhost
    uri = db_uri(config, "notifications") + "_delivery"
    upgrade("notifications", uri)
    telegram = SlowTelegram(BOT_TOKEN).start()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    service_config = copy.deepcopy(config)
    service_config["AMQP_URI"] = amqp_uri
    service_config["DB_URIS"] = {"notifications:Base": uri}
    service_config["NOTIFICATIONS"].update({
        "language": "ru", "reminder_before_hours": 24, "reminder_interval_seconds": 0.3,
        "delivery_interval_seconds": 1, "max_attempts": 3,
        "backoff_base_seconds": RETRY_BASE_SECONDS,
        "studio": {"telegram_chat_id": STUDIO_CHAT, "email": STUDIO_EMAIL},
        "channels": {
            "telegram": {"api_url": telegram.url, "bot_token": BOT_TOKEN, "timeout": 5},
            "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                      "username": "", "password": "", "sender": "studio@example.com",
                      "timeout": 5}}})
    workdir = tempfile.mkdtemp(prefix="notifications-e2e-")
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(service_config, f, allow_unicode=True)
    system = System(config=config_path, log_dir=workdir, services={
        "notifications": "services.notifications.service:NotificationsService"})
    watcher = EventWatcher(amqp_uri, "notifications.events")
    engine = create_engine(uri)
    system.start_all()
    try:
        with rpc_client(amqp_uri) as rpc:
            assert wait_until(lambda: _pings(rpc), 30), system._log_tails(["notifications"])
            yield {"amqp": amqp_uri, "rpc": rpc, "telegram": telegram, "mailbox": mailbox,
                   "watcher": watcher, "engine": engine, "system": system,
                   "logs": lambda: system._log_tails(["notifications"])}
    finally:
        system.stop_all()
        watcher.close()
        smtp.stop()
        telegram.stop()
        engine.dispose()
        drop_database(uri)
        shutil.rmtree(workdir, ignore_errors=True)
        rabbitmqctl("delete_vhost", own_vhost)


def _pings(rpc):
    try:
        return rpc.notifications.ping() == "pong"
    except Exception:
        return False


def customer(**contacts):
    return {"name": "Анна", "phone": "+79990001122", "email": None, "telegram_chat_id": None,
            **contacts}


def booking_payload(start, **contacts):
    return {"booking_id": str(uuid.uuid4()), "hall_id": 1, "hall_name": "Белый зал",
            "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(),
            "status": "confirmed", "price_total": 450000, "prepayment_amount": 135000,
            "amount_paid": 135000, "currency": "RUB", "customer": customer(**contacts)}


def in_days(days, hour=15):
    day = datetime.now(timezone.utc) + timedelta(days=days)
    return day.replace(hour=hour, minute=30, second=0, microsecond=0)


def chat_id():
    return str(uuid.uuid4().int % 10 ** 9)


def telegrams(ctx, chat, booking_id=None):
    return [m for m in ctx["telegram"].messages if m["chat_id"] == chat
            and (booking_id is None or booking_id in m["text"])]


def items(ctx, **filters):
    return ctx["rpc"].notifications.list_notifications(**filters)["items"]


def events_for(ctx, booking_id, count, seconds=15):
    def mine(seen):
        return [m for m in seen if m["body"]["payload"]["booking_id"] == booking_id]
    ctx["watcher"].collect(seconds, until=lambda seen: len(mine(seen)) >= count)
    return mine(ctx["watcher"].seen)


def send_text(ctx, chat, text_="Студия: проверка связи"):
    [item] = ctx["rpc"].notifications.send(channel="telegram", recipient=chat,
                                           text=text_)["items"]
    assert item["status"] == "pending" and item["template"] == "free_text"
    return item


def settled(ctx, notification_id):
    def check():
        [item] = [i for i in items(ctx, limit=200) if i["id"] == notification_id]
        return item if item["status"] != "pending" else None
    return wait_until(check, 15)


def test_confirmed_booking_is_told_to_customer_and_studio_by_telegram_and_email(notifications):
    ctx = notifications
    chat = chat_id()
    payload = booking_payload(in_days(10), telegram_chat_id=chat, email="anna@example.com")
    booking_id = payload["booking_id"]
    publish_envelope(ctx["amqp"], "booking.events",
                     make_envelope("booking", "booking.confirmed", payload))

    assert wait_until(lambda: telegrams(ctx, chat) and telegrams(ctx, STUDIO_CHAT, booking_id)
                      and ctx["mailbox"].to("anna@example.com")
                      and [m for m in ctx["mailbox"].to(STUDIO_EMAIL)
                           if booking_id in m["body"]]), ctx["logs"]()

    [to_customer] = telegrams(ctx, chat)
    assert to_customer["text"].startswith("Бронь подтверждена: «Белый зал»")
    assert booking_id in to_customer["text"]
    [mail] = ctx["mailbox"].to("anna@example.com")
    assert mail["subject"] == to_customer["text"].splitlines()[0]
    assert "Здравствуйте, Анна!" in mail["body"] and "Ждём вас" in mail["body"]
    [(kind, ics)] = mail["attachments"]
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert kind == "text/calendar" and booking_id in str(event["UID"])
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "/calendar.ics?key=" in to_customer["text"]
    [to_studio] = telegrams(ctx, STUDIO_CHAT, booking_id)
    assert to_studio["text"].startswith("Новая бронь: «Белый зал»")
    assert "Клиент: Анна, телефон +79990001122" in to_studio["text"]
    [studio_mail] = [m for m in ctx["mailbox"].to(STUDIO_EMAIL) if booking_id in m["body"]]
    assert studio_mail["subject"].startswith("Новая бронь")

    sent = events_for(ctx, booking_id, 4)
    assert sorted((e["routing_key"], e["body"]["payload"]["channel"],
                   e["body"]["payload"]["recipient"]) for e in sent) == sorted([
        ("notification.sent", "telegram", chat),
        ("notification.sent", "email", "anna@example.com"),
        ("notification.sent", "telegram", STUDIO_CHAT),
        ("notification.sent", "email", STUDIO_EMAIL)])
    for event in sent:
        assert event["body"]["source"] == "notifications"
        NotificationEventPayloadSchema().load(event["body"]["payload"])
        assert BOT_TOKEN not in str(event["body"])
    listed = items(ctx, booking_id=booking_id)
    assert {(i["status"], i["attempts"]) for i in listed} == {("sent", 1)}


def test_the_same_event_twice_is_sent_once(notifications):
    ctx = notifications
    chat = chat_id()
    payload = booking_payload(in_days(10), telegram_chat_id=chat)
    envelope = make_envelope("booking", "booking.cancelled", {**payload, "status": "cancelled",
                                                              "refund_due": 135000})
    publish_envelope(ctx["amqp"], "booking.events", envelope)
    publish_envelope(ctx["amqp"], "booking.events", envelope)

    assert wait_until(lambda: telegrams(ctx, chat)), ctx["logs"]()
    events_for(ctx, payload["booking_id"], 3)
    ctx["watcher"].collect(1.0)   # a second copy, if it were coming, comes now

    [message] = telegrams(ctx, chat)
    assert message["text"].startswith("Бронь отменена")
    assert "Вернём 1\u00a0350,00\u00a0₽" in message["text"]
    assert len(telegrams(ctx, STUDIO_CHAT, payload["booking_id"])) == 1
    assert len(events_for(ctx, payload["booking_id"], 3, seconds=0)) == 3
    assert len(items(ctx, booking_id=payload["booking_id"])) == 3


def test_a_rate_limited_message_is_sent_after_telegrams_retry_after(notifications):
    ctx = notifications
    chat = chat_id()
    ctx["telegram"].fail_next(1, status=429, retry_after=1)
    started = time.monotonic()
    item = send_text(ctx, chat)

    done = settled(ctx, item["id"])
    assert done["status"] == "sent" and done["attempts"] == 2, ctx["logs"]()
    assert time.monotonic() - started >= 1.0
    sent_at = datetime.fromisoformat(done["sent_at"])
    assert sent_at - datetime.fromisoformat(done["created_at"]) >= timedelta(seconds=1)
    assert len(telegrams(ctx, chat)) == 1


def test_a_server_error_is_retried(notifications):
    ctx = notifications
    chat = chat_id()
    ctx["telegram"].fail_next(1, status=500)
    item = send_text(ctx, chat)

    done = settled(ctx, item["id"])
    assert (done["status"], done["attempts"], done["last_error"]) == ("sent", 2, None)
    assert len(telegrams(ctx, chat)) == 1


def test_an_unknown_chat_fails_at_once_and_is_announced(notifications):
    ctx = notifications
    chat = chat_id()
    ctx["telegram"].fail_next(1, status=400)
    requests_before = len(ctx["telegram"].requests)
    item = send_text(ctx, chat)

    done = settled(ctx, item["id"])
    assert (done["status"], done["attempts"]) == ("failed", 1)
    assert "400" in done["last_error"] and "chat not found" in done["last_error"]
    assert BOT_TOKEN not in done["last_error"]
    seen = ctx["watcher"].collect(10, until=lambda s: any(
        m["body"]["payload"]["notification_id"] == item["id"] for m in s))
    [event] = [m for m in seen if m["body"]["payload"]["notification_id"] == item["id"]]
    assert event["routing_key"] == "notification.failed"
    assert event["body"]["payload"]["last_error"] == done["last_error"]
    # a retry would have come within three backoffs
    assert stays_true(lambda: len(ctx["telegram"].requests) == requests_before + 1,
                      3 * RETRY_BASE_SECONDS)


def test_a_booking_starting_within_a_day_gets_one_reminder_across_restarts(notifications):
    ctx = notifications
    chat = chat_id()
    payload = booking_payload(datetime.now(timezone.utc) + timedelta(hours=3),
                              telegram_chat_id=chat)
    publish_envelope(ctx["amqp"], "booking.events",
                     make_envelope("booking", "booking.confirmed", payload))

    def reminders():
        return [m for m in telegrams(ctx, chat) if m["text"].startswith("Напоминание")]

    assert wait_until(reminders), ctx["logs"]()
    ctx["system"].restart("notifications")
    assert wait_until(lambda: _pings(ctx["rpc"]), 30), ctx["logs"]()
    # The timer runs every 0.3 s: give it several runs in the restarted process.
    assert stays_true(lambda: len(reminders()) == 1, seconds=2)
    assert reminders()[0]["text"].startswith("Напоминание: «Белый зал»")
    assert len([m for m in telegrams(ctx, chat) if m["text"].startswith("Бронь")]) == 1


def test_a_hold_is_announced_and_a_failed_payment_is_told_from_our_copy(notifications):
    # No booking service runs in this vhost. booking.created only brings the hold message
    # (no copy is kept of it); booking.expired leaves the copy a later payment message reads.
    ctx = notifications
    hold_until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=15)
    payload = {**booking_payload(in_days(5), email="payer@example.com"),
               "status": "pending_payment", "amount_paid": 0,
               "hold_expires_at": hold_until.isoformat()}
    booking_id = payload["booking_id"]
    publish_envelope(ctx["amqp"], "booking.events",
                     make_envelope("booking", "booking.created", payload))
    assert wait_until(lambda: ctx["mailbox"].to("payer@example.com"), 20), ctx["logs"]()
    [held] = ctx["mailbox"].to("payer@example.com")
    pay_by = hold_until.astimezone(ZoneInfo("Europe/Moscow")).strftime("%H:%M")
    assert held["subject"].startswith(f"Бронь ждёт оплаты до {pay_by}: «Белый зал»")
    assert "предоплату 1\u00a0350,00\u00a0₽" in held["body"]
    assert f"/b/{booking_id}" in held["body"]
    assert not _copy_exists(ctx, booking_id)

    publish_envelope(ctx["amqp"], "booking.events", make_envelope(
        "booking", "booking.expired", {**payload, "status": "expired"}))
    assert wait_until(lambda: _copy_exists(ctx, booking_id)), ctx["logs"]()
    publish_envelope(ctx["amqp"], "payments.events", make_envelope("payments", "payment.failed", {
        "payment_id": "pay-42", "booking_id": booking_id, "kind": "prepayment",
        "amount": 135000, "currency": "RUB", "gateway": "yookassa", "status": "failed",
        "refunded_amount": 0}))

    def payment_failed_told():
        mails = [m for m in ctx["mailbox"].to("payer@example.com")
                 if m["subject"].startswith("Оплата не прошла")]
        studio = [m for m in telegrams(ctx, STUDIO_CHAT, booking_id) if "pay-42" in m["text"]]
        return mails and studio and (mails, studio)

    told = wait_until(payment_failed_told, 20)
    assert told, ctx["logs"]()
    [mail], [to_studio] = told
    assert mail["subject"].startswith("Оплата не прошла: «Белый зал»")
    assert "Предоплата 1\u00a0350,00\u00a0₽ не прошла." in mail["body"]
    assert "через yookassa, платёж pay-42" in to_studio["text"]


def test_a_slow_telegram_does_not_hold_up_other_events(notifications):
    ctx = notifications
    slow_chat = chat_id()
    ctx["telegram"].slow_chats[slow_chat] = 3
    try:
        slow = booking_payload(in_days(10), telegram_chat_id=slow_chat)
        quick = booking_payload(in_days(10), email="quick@example.com")
        publish_envelope(ctx["amqp"], "booking.events",
                         make_envelope("booking", "booking.confirmed", slow))
        assert wait_until(lambda: slow_chat in ctx["telegram"].held, 10)
        started = time.monotonic()
        publish_envelope(ctx["amqp"], "booking.events",
                         make_envelope("booking", "booking.confirmed", quick))
        assert wait_until(lambda: ctx["mailbox"].to("quick@example.com"), 10)
        assert time.monotonic() - started < 2.5   # well before the slow chat is answered
        assert telegrams(ctx, slow_chat) == []
        assert wait_until(lambda: telegrams(ctx, slow_chat), 10)
    finally:
        ctx["telegram"].slow_chats.clear()


def _copy_exists(ctx, booking_id):
    with ctx["engine"].connect() as conn:
        return conn.execute(text("SELECT count(*) FROM booking_copies WHERE booking_id = :b"),
                            {"b": booking_id}).scalar()

