"""Payments and the paid-booking flow, through the mock provider.

- `measure`: bookings paid at a steady rate; per booking, the lag from the webhook accepted by
  payments to payment.succeeded published, to booking.confirmed in the integration log, and
  to the confirmation notification recorded; and the CPU each process spent per booking.
- `measure_webhooks`: payments' capacity, webhooks as fast as the clients pay.

Every time is PostgreSQL's clock (each row's own timestamp), so the processes' clocks do not
matter.
"""
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bench import cpu
from bench.harness import create_hall, hour_slots, settle, summary

PAYING_CARD = "4242424242424242"


def pending_payments(bench, count, hall_name):
    """`count` bookings of a new hall, each with a pending mock prepayment: (booking, payment)."""
    hall = create_hall(bench, hall_name)
    client = bench.client

    def book_and_start_payment(item):
        n, (start, end) = item
        booking = patiently(lambda key: client.request(
            "POST", "/api/bookings", headers={"Idempotency-Key": key}, json={
                "hall_id": hall["id"], "start": start, "end": end,
                "customer": {"name": f"Bench {n}", "phone": "+7 903 000-00-00",
                             "email": f"bench{n}@example.com"}})).json()
        payment = patiently(lambda key: client.request(
            "POST", "/api/payments", token=booking["access_token"],
            headers={"Idempotency-Key": key}, json={
                "booking_id": booking["id"], "kind": "prepayment", "gateway": "mock"})).json()
        return booking["id"], payment["id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(book_and_start_payment, enumerate(hour_slots(count))))


def patiently(send, tries=8):
    """`send(idempotency_key)` until it is answered without a server error (503: a service
    did not answer in time on this shared machine); the same key every time, so a repeat
    is the first call's answer."""
    key = str(uuid.uuid4())
    for attempt in range(tries):
        answer = send(key)
        if answer.status_code < 500:
            assert answer.status_code < 400, answer.text[:300]
            return answer
        time.sleep(min(3.0, 0.5 * (attempt + 1)))
    raise AssertionError(answer.text[:300])


def pay(bench, pairs, clients, rate=None):
    """Pay every payment at the mock checkout, `rate` a second (None: as fast as `clients`
    threads go). Returns the seconds it took and how many payments left late."""
    started = time.monotonic()
    late = []

    def pay_one(i):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late.append(-delay)
        patiently(lambda key: bench.client.request(
            "POST", f"/mock-checkout/{pairs[i][1]}", data={"card_number": PAYING_CARD},
            allow_redirects=False))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(pay_one, range(len(pairs))))
    return time.monotonic() - started, len(late)


def wait_for_lags(bench, pairs, last, timeout=120):
    """Poll until every booking has its `last` timestamp (or the timeout); the rows."""
    engines = {name: create_engine(uri) for name, uri in bench.uris.items()}
    deadline = time.monotonic() + timeout
    try:
        rows = {}
        while True:
            try:
                rows = lag_rows(engines, pairs)
            except OperationalError as exc:  # the shared server is full for a moment
                print(f"lags: {exc.orig}".strip(), flush=True)
            if (rows and all(r[last] for r in rows.values())) or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)
    finally:
        for engine in engines.values():
            engine.dispose()


def lags(rows, key):
    return [(r[key] - r["webhook"]).total_seconds() * 1000
            for r in rows.values() if r[key] and r["webhook"]]


def measure(bench, count, rate):
    """The steady flow: `count` bookings paid at `rate` a second. CPU per paid booking is
    counted from the booking's creation to its last message (every event handled)."""
    settle(bench)
    idle_from = bench.cpu_snapshot()
    time.sleep(3)
    before_booking = bench.cpu_snapshot()
    pairs = pending_payments(bench, count, "Bench flow hall")
    settle(bench)
    before_paying = bench.cpu_snapshot()
    print(f"{count} bookings with pending payments; paying {rate:g}/s ...", flush=True)
    offered, late = pay(bench, pairs, clients=16, rate=rate)
    rows = wait_for_lags(bench, pairs, "notified")
    settle(bench)
    after = bench.cpu_snapshot()
    return {
        "bookings": count, "rate_per_second": rate, "offered_seconds": round(offered, 2),
        "late_sends": late,
        "confirmed_logged": len(lags(rows, "logged")), "notified": len(lags(rows, "notified")),
        "webhook_to_published_ms": summary(lags(rows, "published")),
        "webhook_to_confirmed_logged_ms": summary(lags(rows, "logged")),
        "webhook_to_notification_ms": summary(lags(rows, "notified")),
        # what one paid booking costs each process: created, payment started, paid at the
        # mock checkout, webhook, confirmed, logged, messages recorded
        "cpu_ms_per_paid_booking": cpu.per_operation(before_booking, after, count),
        "cpu_ms_per_paid_booking_net": cpu.per_operation(before_booking, after, count,
                                                         idle=(idle_from, before_booking)),
        # the part from the checkout on
        "cpu_ms_per_payment": cpu.per_operation(before_paying, after, count),
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def measure_webhooks(bench, count, clients=8):
    """Payments' own capacity: `count` mock payments paid as fast as `clients` threads go;
    mock webhooks accepted per second (first accepted to last payment.succeeded published)
    and each one's lag to its payment.succeeded published."""
    pairs = pending_payments(bench, count, "Bench webhook hall")
    pay(bench, pairs, clients)
    rows = wait_for_lags(bench, pairs, "published")
    span = (max(r["published"] for r in rows.values() if r["published"]) -
            min(r["webhook"] for r in rows.values() if r["webhook"])).total_seconds()
    published = lags(rows, "published")
    return {"clients": clients, "webhooks": count, "published": len(published),
            "per_second": round(len(published) / span, 1), "latency_ms": summary(published)}


def _times(engine, sql, params=None):
    """{key: time} from a query of (key, time) rows."""
    with engine.connect() as conn:
        return dict(conn.execute(text(sql), params or {}).all())


def lag_rows(engines, pairs):
    """Per booking: the webhook's received_at, payment.succeeded's published_at in payments'
    outbox, booking.confirmed's received_at in the integration log, and the first
    notification recorded for that booking.confirmed."""
    payment_ids = [p for _, p in pairs]
    webhook = _times(engines["payments"],
                     "SELECT payment_id::text, min(received_at) FROM provider_notifications "
                     "WHERE payment_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1", {"ids": payment_ids})
    published = _times(engines["payments"],
                       "SELECT envelope->'payload'->>'payment_id', published_at FROM outbox "
                       "WHERE type = 'payment.succeeded' AND published_at IS NOT NULL")
    with engines["integration"].connect() as conn:
        confirmations = conn.execute(text(
            "SELECT booking_id, event_id::text, received_at FROM event_log "
            "WHERE type = 'booking.confirmed' AND booking_id = ANY(:ids)"),
            {"ids": [b for b, _ in pairs]}).all()
    logged = {booking_id: received_at for booking_id, _, received_at in confirmations}
    confirmed_by = {booking_id: event_id for booking_id, event_id, _ in confirmations}
    notified = _times(engines["notifications"],
                      "SELECT event_id::text, min(created_at) FROM notifications "
                      "WHERE event_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1",
                      {"ids": list(confirmed_by.values())}) if confirmed_by else {}
    return {booking_id: {"webhook": webhook.get(payment_id),
                         "published": published.get(payment_id),
                         "logged": logged.get(booking_id),
                         "notified": notified.get(confirmed_by.get(booking_id))}
            for booking_id, payment_id in pairs}
