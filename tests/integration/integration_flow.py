"""Driving bookings through the running system for the integration service's tests: halls,
bookings over HTTP, payments (through the mock provider's checkout, as a customer pays), the
integration log, and RabbitMQ's view of the queues."""
import json
import subprocess
import time
import uuid
from datetime import date, timedelta

import pika
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from contracts.events import make_envelope
from tests.amqp import wait_until

PAYING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
FIRST_HOUR, LAST_HOUR = 9, 21        # one-hour bookings from 09:00 to 22:00


def make_hall(rpc, hourly_price=240000):
    return rpc.booking.create_hall({
        "name": f"Integration hall {uuid.uuid4()}", "capacity": 6, "buffer_minutes": 0,
        "description": "for the integration tests",
        "tariff": {"hourly_price": hourly_price, "rules": []}})


def hour_slots(count, weeks_ahead=3):
    """`count` distinct one-hour (start, end) local times, day after day."""
    first_day = date.today() + timedelta(weeks=weeks_ahead)
    per_day = LAST_HOUR - FIRST_HOUR + 1
    for n in range(count):
        day = first_day + timedelta(days=n // per_day)
        hour = FIRST_HOUR + n % per_day
        yield f"{day}T{hour:02d}:00", f"{day}T{hour + 1:02d}:00"


def customer(n=0):
    return {"name": f"Клиент {n}", "phone": f"+7 903 {n % 1000:03d}-22-33",
            "email": f"client{n}@example.com"}


def book(api, hall, start, end, n=0):
    answer = api.post("/api/bookings", json={"hall_id": hall["id"], "start": start,
                                             "end": end, "customer": customer(n)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def book_many(api, hall, count, weeks_ahead=3):
    return [book(api, hall, start, end, n)
            for n, (start, end) in enumerate(hour_slots(count, weeks_ahead))]


def release_holds(rpc, booking_ids):
    """Cancel the bookings still holding a slot unpaid: a test leaves no holds behind for the
    expiry of another test to find."""
    for booking_id in booking_ids:
        try:
            if rpc.booking.get_booking(booking_id)["status"] == "pending_payment":
                rpc.booking.cancel_booking(booking_id, by="operator", reason="test over")
        except Exception:
            pass


# --- paying ------------------------------------------------------------------------------------

class MockProviderPayer:
    """Pays the way a customer does: POST /api/payments, then the mock checkout page; the
    mock provider's signed webhook does the rest."""

    name = "mock provider"

    def __init__(self, api):
        self.api = api

    def create(self, booking, kind="prepayment"):
        created = self.api.post("/api/payments", token=booking["access_token"], json={
            "booking_id": booking["id"], "kind": kind, "gateway": "mock"},
            headers={"Idempotency-Key": f"pay-{booking['id']}-{kind}"})
        assert created.status_code == 201, created.text
        return created.json()

    def pay(self, payment, card=PAYING_CARD):
        paid = self.api.post(f"/mock-checkout/{payment['id']}", data={"card_number": card},
                             allow_redirects=False)
        assert paid.status_code == 303, paid.text
        return payment

    def start(self, booking, kind="prepayment", card=PAYING_CARD):
        """Returns the payment (id, amount) once the card was submitted."""
        return self.pay(self.create(booking, kind), card)


def publish(amqp_uri, envelopes, attempts=60):
    """Publish envelopes to their source's exchange with publisher confirms, as a relay does;
    keeps trying while the broker is away."""
    for attempt in range(attempts):
        try:
            connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
            try:
                channel = connection.channel()
                channel.confirm_delivery()
                for envelope in envelopes:
                    channel.basic_publish(
                        f"{envelope['source']}.events", envelope["type"], json.dumps(envelope),
                        pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                             message_id=envelope["event_id"]),
                        mandatory=False)
                return
            finally:
                try:
                    connection.close()
                except Exception:
                    pass
        except (pika.exceptions.AMQPError, OSError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


# --- looking --------------------------------------------------------------------------------

def all_events(rpc, **filters):
    """Every page of integration.list_events."""
    items, cursor = [], None
    while True:
        page = rpc.integration.list_events(cursor=cursor, limit=200, **filters)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def chain_types(rpc, booking_id):
    return [e["type"] for e in rpc.integration.booking_chain(booking_id)["items"]]


def count_by_booking(events, event_type):
    counts = {}
    for event in events:
        if event["type"] == event_type:
            counts[event["booking_id"]] = counts.get(event["booking_id"], 0) + 1
    return counts


def queue_depths(vhost):
    """{queue: ready + unacknowledged messages} of a vhost, as RabbitMQ counts them."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages_ready",
         "messages_unacknowledged", "--no-table-headers"],
        check=True, capture_output=True, text=True, timeout=60).stdout
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1]) + int(parts[2])
    return depths


def wait_for_quiet_queues(vhost, prefix="evt-", seconds=30):
    """Until every event queue of the vhost is empty and nothing is being handled."""
    def quiet():
        try:
            depths = queue_depths(vhost)
        except subprocess.SubprocessError:    # rabbitmqctl could not ask: not known quiet
            return False
        return not any(n for q, n in depths.items() if q.startswith(prefix))
    return wait_until(quiet, seconds, 0.5)  # TimeoutError while anything is still queued


# --- what the databases say (read only) --------------------------------------------------------

def confirmed_count(booking_db, booking_ids):
    with booking_db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bookings WHERE status = 'confirmed' "
                                 "AND id = ANY(CAST(:ids AS uuid[]))"),
                            {"ids": list(booking_ids)}).scalar()


def confirmations(booking_db, integration_db, booking_ids):
    """Per booking: (amount_paid, payments applied, booking.confirmed events the booking
    service emitted, booking.confirmed rows in the integration log)."""
    ids = list(booking_ids)
    with booking_db.connect() as conn:
        paid = dict(conn.execute(text(
            "SELECT id::text, amount_paid FROM bookings WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids}).all())
        applied = dict(conn.execute(text(
            "SELECT id::text, jsonb_array_length(payment_ids) FROM bookings "
            "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}).all())
        emitted = dict(conn.execute(text(
            "SELECT envelope->'payload'->>'booking_id', count(*) FROM outbox "
            "WHERE type = 'booking.confirmed' AND envelope->'payload'->>'booking_id' = ANY(:ids) "
            "GROUP BY 1"), {"ids": ids}).all())
    with integration_db.connect() as conn:
        logged = dict(conn.execute(text(
            "SELECT booking_id, count(*) FROM event_log WHERE type = 'booking.confirmed' "
            "AND booking_id = ANY(:ids) GROUP BY 1"), {"ids": ids}).all())
    return {i: (paid.get(i), applied.get(i), emitted.get(i, 0), logged.get(i, 0))
            for i in ids}


def exactly_once_report(booking_db, integration_db, bookings, payments):
    """(expected, seen) of "each booking confirmed once with its one payment"."""
    state = confirmations(booking_db, integration_db, [b["id"] for b in bookings])
    expected = {b["id"]: (p["amount"], 1, 1, 1) for b, p in zip(bookings, payments)}
    return expected, state


TEST_CLIENT = "studio-tests"   # application_name of the tests' own database connections


class ConnectionKiller:
    """Drops the services' connections to a database with pg_terminate_backend (the tests' own,
    named TEST_CLIENT, are spared), from a connection opened beforehand."""

    def __init__(self, any_database_uri):
        url = make_url(any_database_uri)
        self.engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                    pool_size=1, connect_args={"application_name": TEST_CLIENT})
        self.connection = self.engine.connect()

    def drop(self, database_uri):
        """Returns how many connections were terminated."""
        return self.connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid() AND application_name <> :me"),
            {"db": make_url(database_uri).database, "me": TEST_CLIENT}).scalar()

    def close(self):
        self.connection.close()
        self.engine.dispose()


def plant_dead_event(integration_db_uri, note="planted by a test"):
    """A booking.created parked `dead` in integration's inbox, as a handler that failed on
    every try leaves it; its handler succeeds when retried. Returns the envelope."""
    envelope = make_envelope("booking", "booking.created", {
        "booking_id": str(uuid.uuid4()), "customer": {"name": "planted"}})
    engine = create_engine(integration_db_uri)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO inbox (event_id, handler, type, source, envelope, status, "
                "attempts, last_error) VALUES (:e, 'log_events', 'booking.created', "
                "'booking', CAST(:env AS jsonb), 'dead', 8, :err)"),
                {"e": envelope["event_id"], "env": json.dumps(envelope),
                 "err": f"RuntimeError: {note}"})
    finally:
        engine.dispose()
    return envelope
