"""The pool's check of a connection on checkout (services.common.db.replace_dropped_connections):
a connection PostgreSQL dropped is replaced before it is used, a fresh one costs no round trip,
and one idle for long is asked first."""
import time

import pytest
from sqlalchemy import create_engine, text

from services.common import db
from services.common.config import db_uri
from services.common.migrate import drop_database, ensure_database


@pytest.fixture
def engine(config):
    uri = f"{db_uri(config, 'booking')}_pool"
    ensure_database(uri)
    engine = db.engine_for(uri, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()
    drop_database(uri)


@pytest.fixture
def admin(config):
    admin = create_engine(db_uri(config, "booking").rsplit("/", 1)[0] + "/postgres",
                          isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()


def backend_pid(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def terminate(admin, pid, pooled_connection):
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    deadline = time.monotonic() + 5
    while not db.was_dropped(pooled_connection):   # the backend's FATAL reaches the socket
        assert time.monotonic() < deadline, "the dropped connection never became readable"
        time.sleep(0.01)


def pooled_dbapi_connection(engine):
    with engine.connect() as conn:
        return conn.connection.dbapi_connection


def test_a_connection_postgresql_dropped_is_replaced_before_it_is_used(engine, admin):
    first = backend_pid(engine)
    terminate(admin, first, pooled_dbapi_connection(engine))
    assert backend_pid(engine) not in (None, first)        # no error reached the caller


def test_a_healthy_connection_is_taken_without_a_round_trip(engine, monkeypatch):
    backend_pid(engine)
    asked = []
    monkeypatch.setattr(db, "answers", lambda connection: asked.append(connection) or True)
    for _ in range(5):
        backend_pid(engine)
    assert asked == []


def test_a_connection_idle_for_long_is_asked_first_and_replaced_when_it_does_not_answer(
        engine, monkeypatch):
    first = backend_pid(engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    asked = []

    def silent_the_first_time(connection):
        asked.append(connection)
        return len(asked) > 1
    monkeypatch.setattr(db, "answers", silent_the_first_time)
    second = backend_pid(engine)
    assert len(asked) == 2 and second != first   # the silent one was dropped for a new one
