"""A booking process's parsed halls (store.ParsedHalls) kept while its HallWatcher hears their
changes (migration 0007's NOTIFY), and checked by their stamp whenever it may not."""
import uuid

import psycopg2
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from services.booking import operations, store
from services.booking.hall_watch import HallWatcher


@pytest.fixture(scope="module")
def engine(engines):
    return engines["booking"]


@pytest.fixture
def statements(engine):
    """The statements the engine runs from now on."""
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def hall(engine):
    with Session(engine) as session:
        view = operations.save_hall(session, {
            "name": f"Watched hall {uuid.uuid4()}", "capacity": 5,
            "tariff": {"hourly_price": 200000}})
        session.commit()
    return view


@pytest.fixture
def halls():
    return store.ParsedHalls()


@pytest.fixture
def watcher(databases, halls):
    watcher = HallWatcher(databases["booking"], halls)
    watcher.hearing.listen()
    yield watcher
    watcher.stop_listening()


def price_of(engine, halls, hall_id):
    with Session(engine) as session:
        hall, _ = halls.get(session, hall_id)
        return hall.tariff.hourly_price


def change_price_by_hand(engine, hall_id, price):
    """As another booking process would, its stamp too; this process's copy is not told."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE halls SET tariff = jsonb_set(tariff, '{hourly_price}', "
                          "to_jsonb(CAST(:p AS integer))), updated_at = clock_timestamp() "
                          "WHERE id = :id"), {"p": price, "id": hall_id})


def test_a_watched_hall_is_used_without_a_query_until_its_change_is_heard(
        engine, hall, halls, watcher, statements):
    assert price_of(engine, halls, hall["id"]) == 200000
    statements.clear()
    assert price_of(engine, halls, hall["id"]) == 200000
    assert statements == []                       # kept: not even the stamp was read

    change_price_by_hand(engine, hall["id"], 250000)
    watcher.hearing.hear(timeout=5)
    assert price_of(engine, halls, hall["id"]) == 250000


def test_a_hall_unwatched_is_checked_by_its_stamp_on_every_use(engine, hall, halls, statements):
    assert price_of(engine, halls, hall["id"]) == 200000
    change_price_by_hand(engine, hall["id"], 260000)
    statements.clear()
    assert price_of(engine, halls, hall["id"]) == 260000
    assert any("updated_at FROM halls" in s for s in statements)


def test_a_watched_hall_is_still_checked_once_its_trust_runs_out(
        engine, hall, halls, watcher, statements):
    halls.trust_seconds = 0.0
    price_of(engine, halls, hall["id"])
    statements.clear()
    price_of(engine, halls, hall["id"])
    assert len(statements) == 1                   # the stamp, equal: the copy is kept


def test_a_copy_read_while_a_change_came_in_is_used_once_but_not_kept(
        engine, hall, halls, watcher, statements, monkeypatch):
    reading = store._special_days_of_hall

    def change_heard_meanwhile(session, hall_id):
        halls.changed()
        return reading(session, hall_id)
    monkeypatch.setattr(store, "_special_days_of_hall", change_heard_meanwhile)
    price_of(engine, halls, hall["id"])
    monkeypatch.setattr(store, "_special_days_of_hall", reading)
    statements.clear()
    price_of(engine, halls, hall["id"])
    assert statements                             # read again, not taken from the copy


def test_a_lost_listening_connection_stops_the_trust(engine, databases, hall, halls, watcher):
    price_of(engine, halls, hall["id"])
    pid = watcher.hearing.listener.connection.get_backend_pid()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    with pytest.raises(psycopg2.OperationalError):
        watcher.hearing.hear(timeout=5)
    watcher.stop_listening()                      # what run_forever does on the error
    assert not halls.watched
    change_price_by_hand(engine, hall["id"], 270000)
    assert price_of(engine, halls, hall["id"]) == 270000
