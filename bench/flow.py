"""The paid-booking flow under a steady load: 200 bookings paid through the mock provider at 20
per second. Measures, per booking, the lag from the webhook accepted by payments to
booking.confirmed in the integration log, and to the confirmation notification recorded.

    python -m bench.flow [--bookings 200] [--rate 20]

Runs the whole system as separate processes in its own vhost and databases (dropped after);
RabbitMQ and PostgreSQL must be up (make infra). Every time is taken by PostgreSQL's clock
(each row's own timestamp), so the processes' clocks do not matter. Figures go to stdout and
to bench/results/flow-<time>.json.
"""
import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

RUN = f"bench_flow_{os.getpid()}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADDRESS = f"127.0.0.1:{_free_port()}"
ADMIN_TOKEN = "bench-admin-token"
os.environ.update({
    "DB_PREFIX": f"studio_{RUN}", "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{RUN}",
    "WEB_SERVER_ADDRESS": ADDRESS, "PUBLIC_URL": f"http://{ADDRESS}",
    "ADMIN_TOKEN": ADMIN_TOKEN, "PAYMENT_ENV": "mock", "LOG_LEVEL": "WARNING",
})

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from scripts.system import System  # noqa: E402
from services.common.config import db_uri, load_config  # noqa: E402
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYING_CARD = "4242424242424242"


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Client:
    def __init__(self, base_url):
        self.base_url = base_url
        self.local = threading.local()

    def request(self, method, path, token=None, **kwargs):
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return session.request(method, self.base_url + path, headers=headers, timeout=30,
                               **kwargs)


def hour_slots(count):
    first = date.today() + timedelta(weeks=3)
    for n in range(count):
        day, hour = first + timedelta(days=n // 13), 9 + n % 13
        yield f"{day}T{hour:02d}:00", f"{day}T{hour + 1:02d}:00"


def run(count, rate):
    config = load_config()
    uris = {name: db_uri(config, name) for name in SERVICES_WITH_DATABASE}
    rabbitmqctl("add_vhost", RUN)
    rabbitmqctl("set_permissions", "-p", RUN, "guest", ".*", ".*", ".*")
    for name, uri in uris.items():
        upgrade(name, uri)
    log_dir = tempfile.mkdtemp(prefix="bench-flow-")
    system = System(log_dir=log_dir)
    system.start_all()
    try:
        system.wait_healthy(timeout=90)
        return measure(config, uris, Client(system.base_url), count, rate)
    finally:
        system.stop_all()
        for uri in uris.values():
            drop_database(uri)
        rabbitmqctl("delete_vhost", RUN)


def measure(config, uris, client, count, rate):
    from nameko.standalone.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, timeout=30) as rpc:
        hall = rpc.booking.create_hall({
            "name": f"Bench hall {uuid.uuid4()}", "capacity": 6, "buffer_minutes": 0,
            "tariff": {"hourly_price": 240000, "rules": []}})

    def book_and_start_payment(item):
        n, (start, end) = item
        booking = client.request("POST", "/api/bookings", json={
            "hall_id": hall["id"], "start": start, "end": end,
            "customer": {"name": f"Bench {n}", "phone": "+7 903 000-00-00",
                         "email": f"bench{n}@example.com"}}).json()
        payment = client.request("POST", "/api/payments", token=booking["access_token"], json={
            "booking_id": booking["id"], "kind": "prepayment", "gateway": "mock"}).json()
        return booking["id"], payment["id"]

    with ThreadPoolExecutor(8) as pool:
        pairs = list(pool.map(book_and_start_payment, enumerate(hour_slots(count))))
    print(f"{count} bookings with pending payments; paying {rate}/s ...", flush=True)

    started = time.monotonic()
    late = []

    def pay(i):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late.append(-delay)
        answer = client.request("POST", f"/mock-checkout/{pairs[i][1]}",
                                data={"card_number": PAYING_CARD}, allow_redirects=False)
        assert answer.status_code == 303, answer.text

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(pay, range(count)))
    offered = time.monotonic() - started

    engines = {name: create_engine(uri) for name, uri in uris.items()}
    booking_ids = [b for b, _ in pairs]
    payment_ids = [p for _, p in pairs]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = lag_rows(engines, booking_ids, payment_ids)
        if sum(1 for r in rows.values() if r["notified"] is not None) == count:
            break
        time.sleep(0.5)
    for engine in engines.values():
        engine.dispose()

    to_log = [(r["logged"] - r["webhook"]).total_seconds() * 1000
              for r in rows.values() if r["logged"] and r["webhook"]]
    to_note = [(r["notified"] - r["webhook"]).total_seconds() * 1000
               for r in rows.values() if r["notified"] and r["webhook"]]
    result = {
        "bookings": count, "rate_per_second": rate, "offered_seconds": round(offered, 2),
        "late_sends": len(late),
        "confirmed_logged": len(to_log), "notified": len(to_note),
        "webhook_to_confirmed_logged_ms": summary(to_log),
        "webhook_to_notification_ms": summary(to_note),
        "at": datetime.now().isoformat(timespec="seconds"),
    }
    return result


def summary(values):
    if not values:
        return None
    return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1),
            "max": round(max(values), 1)}


def lag_rows(engines, booking_ids, payment_ids):
    """Per booking: the webhook's received_at, booking.confirmed's received_at in the log,
    and the first notification recorded for that booking.confirmed."""
    rows = {b: {"webhook": None, "logged": None, "notified": None} for b in booking_ids}
    by_payment = dict(zip(payment_ids, booking_ids))
    with engines["payments"].connect() as conn:
        for payment_id, received_at in conn.execute(text(
                "SELECT payment_id::text, min(received_at) FROM provider_notifications "
                "WHERE payment_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1"),
                {"ids": payment_ids}):
            rows[by_payment[payment_id]]["webhook"] = received_at
    confirmed = {}
    with engines["integration"].connect() as conn:
        for booking_id, event_id, received_at in conn.execute(text(
                "SELECT booking_id, event_id::text, received_at FROM event_log "
                "WHERE type = 'booking.confirmed' AND booking_id = ANY(:ids)"),
                {"ids": booking_ids}):
            rows[booking_id]["logged"] = received_at
            confirmed[event_id] = booking_id
    if confirmed:
        with engines["notifications"].connect() as conn:
            for event_id, created_at in conn.execute(text(
                    "SELECT event_id::text, min(created_at) FROM notifications "
                    "WHERE event_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1"),
                    {"ids": list(confirmed)}):
                rows[confirmed[event_id]]["notified"] = created_at
    return rows


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args(argv)
    result = run(args.bookings, args.rate)
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results",
                        f"flow-{datetime.now():%Y%m%d-%H%M%S}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"written to {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
