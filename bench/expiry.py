"""Holds expired per second: a hall's worth of unpaid holds whose time has run out, released
by the expiry timer's own drain (operations.drain over operations.expire_holds: a batch per
transaction, SKIP LOCKED, a booking.expired in the outbox for each).

    from bench import expiry
    expiry.run(booking_db_uri, config, holds=5000) -> {"holds", "batch", "seconds",
        "expired_per_second", "python_cpu_ms_per_hold"}

It runs in a booking database of its own (`<booking database>_expiry`, made and dropped
here), so no running service shares the work or has to publish the events afterwards.
"""
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.booking import operations
from services.booking.domain import BookingStatus, Rules
from services.common.migrate import scratch_database

_INSERT_HOLDS = text(
    "INSERT INTO bookings (id, hall_id, start_at, end_at, busy, status, price_total, "
    "prepayment_amount, currency, hold_expires_at, customer, access_token_hash) "
    "SELECT gen_random_uuid(), :hall_id, s, s + interval '1 hour', "
    "tstzrange(s, s + interval '1 hour'), :status, 240000, 72000, 'RUB', :expired_at, "
    "jsonb_build_object('name', 'Bench ' || n, 'phone', '+7 900 ' || n), 'bench' "
    "FROM generate_series(1, :count) AS n, "
    "LATERAL (SELECT CAST(:first AS timestamptz) + n * interval '1 hour' AS s) AS slot "
    "RETURNING id::text")


def insert_due_holds(engine, hall_id, count, now, status=BookingStatus.PENDING_PAYMENT):
    """`count` one-hour bookings of the hall, a month ahead, whose hold ran out a minute
    before `now` (confirmed ones: ended by a year after `now`); returns their ids."""
    with engine.begin() as conn:
        return conn.execute(_INSERT_HOLDS, {
            "hall_id": hall_id, "status": status, "count": count,
            "expired_at": now - timedelta(minutes=1), "first": now + timedelta(days=30),
        }).scalars().all()


def run(booking_db_uri, config, holds=5000, batch=None):
    """Expire `holds` due holds as the timer does; the figures as a dict."""
    rules = Rules.from_config(config["BOOKING"], config["STUDIO_TIMEZONE"])
    batch = batch or int(config["BOOKING"].get("timer_batch") or 500)
    now = datetime.now(timezone.utc)
    with scratch_database("booking", booking_db_uri + "_expiry") as engine:
        with Session(engine) as session, session.begin():
            hall = operations.save_hall(session, {
                "name": f"Expiry bench {uuid.uuid4()}", "capacity": 4,
                "tariff": {"hourly_price": 240000, "rules": []}})
        insert_due_holds(engine, hall["id"], holds, now)

        @contextmanager
        def unit_of_work():
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session

        cpu, started = time.process_time(), time.perf_counter()
        expired = operations.drain(unit_of_work, operations.expire_holds, rules, now, batch)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    assert expired == holds, f"expired {expired} of {holds}"
    return {"holds": holds, "batch": batch, "seconds": round(seconds, 3),
            "expired_per_second": round(holds / seconds),
            "python_cpu_ms_per_hold": round(1000 * cpu / holds, 3)}


if __name__ == "__main__":
    import json
    import sys

    from services.common.config import db_uri, load_config

    configuration = load_config()
    print(json.dumps(run(db_uri(configuration, "booking"), configuration,
                         int(sys.argv[1]) if sys.argv[1:] else 5000)))
