"""The lean inbox against a real PostgreSQL database: exactly once with concurrent duplicates,
a crash between the rollback and the failure record, batches with a bad event and with
repeats. Deliveries run on threads with a connection each, as two workers (or two processes)
of a service would."""
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from contracts.events import make_envelope
from services.common.config import db_uri
from services.common.inbox import DEAD, DONE, FAILED, SKIPPED, InboxRunner
from services.common.migrate import drop_database, ensure_database
from services.common.tables import create_reliability_tables
from tests.integration.relytest_service import SCHEMA

SETTINGS = {"inbox_max_attempts": 3, "inbox_backoff_base_seconds": 60,
            "inbox_backoff_cap_seconds": 600}


@pytest.fixture(scope="module")
def engine(config):
    uri = db_uri(config, "booking").rsplit("_", 1)[0] + "_inboxtest"
    ensure_database(uri)
    engine = create_engine(uri, pool_size=8)
    with engine.begin() as conn:
        create_reliability_tables(conn)
        conn.execute(text(SCHEMA))
    yield engine
    engine.dispose()
    drop_database(uri)


@pytest.fixture(autouse=True)
def empty(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE inbox, effects, faults"))


class Db:
    """ServiceDatabase's get_session: commit on success, roll back on error."""

    def __init__(self, engine):
        self.Session = sessionmaker(bind=engine)

    @contextmanager
    def get_session(self):
        session = self.Session()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()


def effect(session, event, pause=0.0):
    """The handler's write; fails (after writing) when the event's name is in `faults`."""
    session.execute(text("INSERT INTO effects VALUES (:e, 'h', :n)"),
                    {"e": event["event_id"], "n": event["payload"]["name"]})
    time.sleep(pause)  # holds the transaction open: a duplicate arrives meanwhile
    if session.execute(text("SELECT 1 FROM faults WHERE handler = :n"),
                       {"n": event["payload"]["name"]}).first():
        raise RuntimeError("told to fail")


def make_service(engine, pause=0.0):
    class Service:
        db = Db(engine)

        def h(self, session, event):
            effect(session, event, pause)

        def hb(self, session, events):
            for event in events:
                effect(session, event)

    Service.h.inbox_handler = Service.h
    Service.hb.inbox_batch_handler = Service.hb
    Service.hb.inbox_handler = lambda service, session, event: service.hb(session, [event])
    return Service()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def effects(engine, event):
    return scalar(engine, "SELECT count(*) FROM effects WHERE event_id = :e",
                  e=event["event_id"])


def inbox_row(engine, event, handler="h"):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, attempts FROM inbox WHERE event_id = :e "
                                "AND handler = :h"), {"e": event["event_id"], "h": handler}
                           ).first()
    return tuple(row) if row else None


def thing(name="thing"):
    return make_envelope("inboxtest", "thing.made", {"name": name})


def deliver_side_by_side(runner, service, event, copies=2):
    outcomes = []

    def deliver():
        outcomes.append(runner.handle(service, "h", event))

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(10)
    return sorted(outcomes)


def test_concurrent_duplicates_have_one_effect(engine):
    event = thing()
    outcomes = deliver_side_by_side(InboxRunner(SETTINGS), make_service(engine, pause=0.3),
                                    event, copies=3)
    assert outcomes == [DONE, SKIPPED, SKIPPED]
    assert effects(engine, event) == 1
    assert inbox_row(engine, event) == (DONE, 1)


def test_a_duplicate_waiting_on_a_failing_first_delivery_does_the_work_once(engine):
    event = thing("flaky")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO faults VALUES ('flaky')"))
    service = make_service(engine, pause=0.3)
    first = threading.Thread(target=lambda: outcomes.append(
        InboxRunner(SETTINGS).handle(service, "h", event)))
    outcomes = []
    first.start()
    time.sleep(0.1)
    with engine.begin() as conn:  # the fault clears while the first try is on its way down
        conn.execute(text("DELETE FROM faults"))
    outcomes.append(InboxRunner(SETTINGS).handle(service, "h", event))  # waits on the key
    first.join(10)
    # the second delivery ran the handler once the first rolled back; the first one's failure
    # record does not overwrite a done row
    assert sorted(outcomes) == [DONE, SKIPPED]
    assert effects(engine, event) == 1
    assert inbox_row(engine, event) == (DONE, 1)


class CrashBeforeTheFailureRecord(InboxRunner):
    def _record_failure(self, *args):
        raise ConnectionError("the process died here")


def test_a_crash_between_rollback_and_failure_record_leaves_the_event_to_be_redelivered(
        engine, monkeypatch):
    monkeypatch.setattr("eventlet.sleep", lambda seconds: None)
    event = thing("crashy")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO faults VALUES ('crashy')"))
    service = make_service(engine)
    with pytest.raises(ConnectionError):  # nameko requeues the message: it comes back
        CrashBeforeTheFailureRecord(SETTINGS).handle(service, "h", event)
    assert inbox_row(engine, event) is None and effects(engine, event) == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM faults"))
    assert InboxRunner(SETTINGS).handle(service, "h", event) == DONE   # the redelivery
    assert effects(engine, event) == 1 and inbox_row(engine, event) == (DONE, 1)


def test_a_failure_is_kept_with_backoff_then_parked_dead_and_nothing_of_it_stays(engine):
    event = thing("broken")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO faults VALUES ('broken')"))
    runner, service = InboxRunner(SETTINGS), make_service(engine)
    assert runner.handle(service, "h", event) == FAILED
    assert inbox_row(engine, event) == (FAILED, 1)
    assert scalar(engine, "SELECT next_attempt_at > now() + interval '50 seconds' FROM inbox")
    assert runner.handle(service, "h", event) == FAILED   # a redelivery before it is due
    assert inbox_row(engine, event) == (FAILED, 2)
    assert runner.handle(service, "h", event, first_delivery=False) == DEAD
    assert runner.handle(service, "h", event) == SKIPPED  # parked: only an operator retries
    assert effects(engine, event) == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM faults"))
    assert runner.retry(service, event["event_id"]) == {"h": DONE}
    assert effects(engine, event) == 1 and inbox_row(engine, event) == (DONE, 4)


def test_a_batch_is_one_transaction_and_a_bad_event_fails_alone(engine):
    good, bad, also_good = thing("a"), thing("bad"), thing("c")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO faults VALUES ('bad')"))
    runner, service = InboxRunner(SETTINGS), make_service(engine)
    assert runner.handle_batch(service, "hb", [good, bad, also_good]) == [DONE, FAILED, DONE]
    assert [effects(engine, e) for e in (good, bad, also_good)] == [1, 0, 1]
    assert inbox_row(engine, bad, "hb") == (FAILED, 1)


def test_repeats_in_and_across_batches_have_no_second_effect(engine):
    first, second = thing("a"), thing("b")
    runner, service = InboxRunner(SETTINGS), make_service(engine)
    assert runner.handle_batch(service, "hb", [first, first]) == [DONE, SKIPPED]
    assert runner.handle_batch(service, "hb", [first, second]) == [SKIPPED, DONE]
    assert [effects(engine, e) for e in (first, second)] == [1, 1]
