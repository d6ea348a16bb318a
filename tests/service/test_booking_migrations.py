"""The booking database's data migrations: what an upgrade carries over from older rows."""
import json
import uuid
from datetime import datetime, timezone

from alembic import command
from sqlalchemy import text


def a_booking(conn, hall_id, day, payment_ids, amount_paid):
    booking_id = str(uuid.uuid4())
    conn.execute(text(
        "INSERT INTO bookings (id, hall_id, start_at, end_at, busy, status, price_total, "
        "prepayment_amount, amount_paid, currency, payment_ids, customer, access_token_hash) "
        "VALUES (:id, :hall, :start, :start + interval '1 hour', "
        "tstzrange(:start, :start + interval '1 hour'), 'confirmed', 300000, 90000, :paid, "
        "'RUB', CAST(:payments AS jsonb), '{}', 'x')"),
        {"id": booking_id, "hall": hall_id, "paid": amount_paid,
         "start": datetime(2030, 5, day, 10, tzinfo=timezone.utc),
         "payments": json.dumps(payment_ids)})
    return booking_id


def test_a_bookings_only_desk_payment_becomes_desk_money_and_no_other_is_guessed(database_at):
    engine, alembic = database_at("booking", "0005_closures")
    with engine.begin() as conn:
        hall_id = conn.execute(text(
            "INSERT INTO halls (name, capacity, tariff) VALUES ('Old', 5, '{}') RETURNING id")
        ).scalar()
        desk_only = a_booking(conn, hall_id, 1, ["desk:1"], 300000)
        a_booking(conn, hall_id, 2, ["pay-1", "desk:2"], 300000)   # its desk part is unknown
        a_booking(conn, hall_id, 3, ["pay-2"], 90000)
        a_booking(conn, hall_id, 4, [], 0)
    command.upgrade(alembic, "0006_desk_payments")
    with engine.connect() as conn:
        carried = conn.execute(text(
            "SELECT payment_id, booking_id::text, amount FROM desk_payments")).all()
    assert [tuple(row) for row in carried] == [("desk:1", desk_only, 300000)]
    command.downgrade(alembic, "0005_closures")
