"""The inbox rows of handlers a release renamed or retired follow them (0004_handler_names), so
a failed or dead event recorded before the upgrade can still be retried after it."""
import json
import uuid

from alembic import command
from sqlalchemy import text


def put(engine, handler, event_type, status, event_id=None):
    event_id = event_id or str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO inbox (event_id, handler, type, source, envelope, status, attempts, "
            "last_error) VALUES (:e, :h, :t, 'booking', CAST(:env AS jsonb), :st, 3, 'boom')"),
            {"e": event_id, "h": handler, "t": event_type, "st": status,
             "env": json.dumps({"event_id": event_id, "type": event_type})})
    return event_id


def rows(engine):
    with engine.connect() as conn:
        return {(r.event_id, r.handler): (r.status, r.last_error) for r in conn.execute(text(
            "SELECT event_id::text, handler, status, last_error FROM inbox"))}


def test_integrations_per_type_rows_go_to_log_events_and_back(database_at):
    engine, alembic = database_at("integration", "0003_operators")
    failed = put(engine, "booking_created", "booking.created", "failed")
    dead = put(engine, "notification_sent", "notification.sent", "dead")
    handled_twice = put(engine, "booking_confirmed", "booking.confirmed", "done")
    put(engine, "log_events", "booking.confirmed", "done", event_id=handled_twice)
    reaction = put(engine, "payment_succeeded", "payment.succeeded", "failed")

    command.upgrade(alembic, "0004_handler_names")
    after = rows(engine)
    assert after[(failed, "log_events")] == ("failed", "boom")
    assert after[(dead, "log_events")] == ("dead", "boom")
    # the new handler's own row wins; the old one stays as history
    assert (handled_twice, "booking_confirmed") in after
    assert (handled_twice, "log_events") in after
    assert (reaction, "payment_succeeded") in after     # a handler that kept its name

    command.downgrade(alembic, "0003_operators")
    before = rows(engine)
    assert (failed, "booking_created") in before and (dead, "notification_sent") in before
    assert (handled_twice, "log_events") in before      # it was log_events' own


def test_notifications_rows_go_to_the_batched_handler_and_the_copy_keeper_is_retired(
        database_at):
    engine, alembic = database_at("notifications", "0003_calendar")
    hold = put(engine, "remember_booking", "booking.created", "dead")
    confirmed = put(engine, "booking_confirmed", "booking.confirmed", "failed")
    copy_only = put(engine, "remember_payment_recorded", "booking.payment_recorded", "failed")

    command.upgrade(alembic, "0004_handler_names")
    after = rows(engine)
    assert after[(hold, "record_booking_messages")][0] == "dead"
    assert after[(confirmed, "record_booking_messages")][0] == "failed"
    status, why = after[(copy_only, "remember_payment_recorded")]
    assert status == "done"
    assert why.startswith("retired in 0004") and why.endswith("boom")
