"""Clients that retry, with Idempotency-Keys, while RabbitMQ goes away: 50 clients book, pay
through the mock provider and repeat whatever failed (a 503, a lost connection) with the same
key. A whole system of its own reaches RabbitMQ through a TCP proxy that the test cuts for a
few seconds, twice (the shared broker keeps running for everyone else). However the answers
were lost, every client ends with exactly one booking, confirmed once, paid once, one
confirmation message, and no hold left behind.

The `broker_restart` variant really restarts RabbitMQ instead (never run it beside others)."""
import os
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from scripts.system import System, free_port, rabbitmqctl
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade
from tests.amqp import rpc_client, wait_until
from tests.conftest import TEST_ENV, Api
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.integration_flow import MockProviderPayer, customer, hour_slots, make_hall
from tests.integration.test_integration_broker_restart import start_broker, with_retries

CLIENTS = 50
OUTAGES = 2
OUTAGE_SECONDS = 3


@pytest.fixture(scope="module")
def cut_off(config):
    """A system of its own (databases, vhost, gateway) whose every process reaches RabbitMQ
    through `proxy`; the test talks to RabbitMQ directly (`amqp`)."""
    run = f"{TEST_ENV['DB_PREFIX']}_cut"
    vhost = run
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    uris = {name: config["DB_URIS"][f"{name}:Base"].replace(TEST_ENV["DB_PREFIX"], run)
            for name in SERVICES_WITH_DATABASE}
    for name, uri in uris.items():
        upgrade(name, uri)
    proxy = TcpProxy("127.0.0.1", 5672)
    address = f"127.0.0.1:{free_port()}"
    log_dir = tempfile.mkdtemp(prefix="studio-cut-")
    system = System(env={
        "DB_PREFIX": run, "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}",
        "WEB_SERVER_ADDRESS": address, "PUBLIC_URL": f"http://{address}", "RPC_TIMEOUT": "3",
        "DB_POOL_SIZE": "5"}, log_dir=log_dir)
    system.start_all()
    try:
        system.wait_healthy(timeout=90)
        yield {"system": system, "proxy": proxy, "uris": uris, "api": Api(system.base_url),
               "amqp": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"}
    finally:
        system.stop_all()
        proxy.close()
        for uri in uris.values():
            drop_database(uri)
        rabbitmqctl("delete_vhost", vhost)
        if not os.environ.get("KEEP_TEST_LOGS"):
            shutil.rmtree(log_dir, ignore_errors=True)


def client(api, payer, hall, n, start, end, attempts, answered_again):
    key = {"Idempotency-Key": f"book-{n}-{uuid.uuid4()}"}

    def book():
        attempts[n] += 1
        sent_at = datetime.now(timezone.utc)
        answer = api.post("/api/bookings", headers=key, timeout=15, json={
            "hall_id": hall["id"], "start": start, "end": end, "customer": customer(n)})
        assert answer.status_code == 201, answer.text
        booking = answer.json()
        if datetime.fromisoformat(booking["created_at"]) < sent_at:
            answered_again.append(n)  # made by an earlier try whose answer was lost
        return booking

    booking = with_retries(book)
    payment = with_retries(lambda: payer.create(booking))
    with_retries(lambda: payer.pay(payment))
    return booking


def outage(kind, proxy, amqp):
    if kind == "proxy_cut":
        proxy.block()
        time.sleep(OUTAGE_SECONDS)
        proxy.unblock()
    else:
        rabbitmqctl("stop_app")
        time.sleep(OUTAGE_SECONDS)
        assert start_broker(amqp), "RabbitMQ did not come back"


@pytest.mark.parametrize("kind", ["proxy_cut",
                                  pytest.param("broker_restart",
                                               marks=pytest.mark.broker_restart)])
def test_fifty_clients_retrying_with_keys_through_broker_outages_book_and_pay_once(
        cut_off, kind):
    api, proxy = cut_off["api"], cut_off["proxy"]
    with rpc_client(cut_off["amqp"]) as operator:
        hall = make_hall(operator)
    payer = MockProviderPayer(api)
    attempts, answered_again = [0] * CLIENTS, []
    done = []

    def run(args):
        n, (start, end) = args
        booking = client(api, payer, hall, n, start, end, attempts, answered_again)
        done.append(n)
        return booking

    cutter_log = []

    def cut_while_they_run():
        for round_ in range(OUTAGES):
            wait_until(lambda: len(done) >= (round_ + 1) * CLIENTS // (OUTAGES + 2), 120, 0.05)
            cutter_log.append(len(done))
            outage(kind, proxy, cut_off["amqp"])

    cutter = threading.Thread(target=cut_while_they_run, daemon=True)
    cutter.start()
    with ThreadPoolExecutor(10) as pool:
        bookings = list(pool.map(run, enumerate(hour_slots(CLIENTS))))
    cutter.join(60)
    print(f"{kind}: outages after {cutter_log} clients were done; booking requests sent "
          f"{sum(attempts)} for {CLIENTS} clients, {len(answered_again)} of them answered with "
          f"the booking an earlier try had made")
    assert len(cutter_log) == OUTAGES

    booking_db, payments_db, notifications_db = (
        create_engine(cut_off["uris"][name])
        for name in ("booking", "payments", "notifications"))
    try:
        ids = [b["id"] for b in bookings]
        assert wait_until(lambda: _count(booking_db, "SELECT count(*) FROM bookings WHERE "
                                         "hall_id = :h AND status = 'confirmed'",
                                         h=hall["id"]) == CLIENTS, 120, 0.5)
        assert wait_until(lambda: _count(
            notifications_db, "SELECT count(*) FROM notifications WHERE booking_id = ANY(:ids) "
            "AND template = 'booking_confirmed'", ids=ids) >= CLIENTS, 60, 0.5)
        time.sleep(2)  # room for a duplicate to show up, if there were one
        with booking_db.connect() as conn:
            per_client = conn.execute(text(
                "SELECT customer->>'phone', count(*), min(status), max(amount_paid), "
                "count(*) FILTER (WHERE status = 'pending_payment') FROM bookings "
                "WHERE hall_id = :h GROUP BY 1"), {"h": hall["id"]}).all()
            confirmed_events = dict(conn.execute(text(
                "SELECT envelope->'payload'->>'booking_id', count(*) FROM outbox "
                "WHERE type = 'booking.confirmed' GROUP BY 1")).all())
        with payments_db.connect() as conn:
            paid = dict(conn.execute(text(
                "SELECT booking_id::text, count(*) FROM payments WHERE status = 'succeeded' "
                "GROUP BY 1")).all())
        with notifications_db.connect() as conn:
            messages = dict(conn.execute(text(
                "SELECT booking_id, count(*) FROM notifications WHERE template = "
                "'booking_confirmed' GROUP BY 1")).all())
    finally:
        for engine in (booking_db, payments_db, notifications_db):
            engine.dispose()

    prepayment = bookings[0]["prepayment_amount"]
    assert len(per_client) == CLIENTS
    assert {row[1:] for row in per_client} == {(1, "confirmed", prepayment, 0)}
    assert {i: confirmed_events.get(i) for i in ids} == {i: 1 for i in ids}
    assert {i: paid.get(i) for i in ids} == {i: 1 for i in ids}
    assert {i: messages.get(i) for i in ids} == {i: 1 for i in ids}
    assert not cut_off["system"].died()


def _count(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
