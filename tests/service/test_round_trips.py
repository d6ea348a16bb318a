"""The services' engines save round trips without changing a transaction: its BEGIN travels
with its first statement, a statement may commit on its own outside one, and
ServiceDatabase.reading reads without BEGIN and COMMIT; the connection it used goes back to the
pool taking transactions as before."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.common.db import EACH_STATEMENT_COMMITS, ServiceDatabase, engine_for
from services.common.migrate import drop_database, upgrade
from services.payments.models import Base
from tests.round_trips import CountingCursor, counting_engine, first_words


@pytest.fixture(scope="module")
def uri(databases):
    """A database of this module's own."""
    uri = databases["payments"] + "_reading"
    upgrade("payments", uri)
    yield uri
    drop_database(uri)


@pytest.fixture(scope="module")
def database(uri):
    db = ServiceDatabase(Base)
    db.engine = engine_for(uri, pool_size=1, max_overflow=0)  # one connection: always the same
    yield db
    db.engine.dispose()


def transaction_ids(session):
    return [session.execute(text("SELECT txid_current()")).scalar() for _ in range(2)]


def test_each_read_is_committed_on_its_own(database):
    with database.reading() as session:
        first, second = transaction_ids(session)
    assert first != second  # no transaction around the two


def test_the_connection_takes_transactions_again_after_a_read(database):
    with database.reading() as session:
        transaction_ids(session)
    with database.engine.connect() as connection:
        with connection.begin():
            first, second = [connection.execute(text("SELECT txid_current()")).scalar()
                             for _ in range(2)]
    assert first == second


def test_a_failed_read_leaves_the_connection_usable(database):
    with pytest.raises(Exception), database.reading() as session:
        session.execute(text("SELECT 1/0"))
    with database.reading() as session:
        assert session.execute(text("SELECT 2")).scalar() == 2


@pytest.fixture
def counted(uri):
    engine = counting_engine(uri)
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS t (n int PRIMARY KEY)"))
        connection.execute(text("DELETE FROM t"))
    CountingCursor.sent.clear()
    yield engine
    engine.dispose()


def test_a_transaction_sends_its_begin_with_the_first_statement(counted):
    with counted.begin() as connection:
        first = connection.execute(text("INSERT INTO t VALUES (1) RETURNING txid_current()"))
        second = connection.execute(text("INSERT INTO t VALUES (2) RETURNING txid_current()"))
        assert first.scalar() == second.scalar()  # one transaction
    assert first_words(CountingCursor.sent) == [
        "BEGIN;INSERT", "INSERT", "COMMIT"]
    with counted.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_a_rolled_back_transaction_leaves_nothing(counted):
    with counted.connect() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.rollback()
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_a_failed_statement_ends_in_a_rollback_and_the_connection_goes_on(counted):
    with pytest.raises(IntegrityError), counted.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert CountingCursor.sent[-1] == "ROLLBACK"
    with counted.begin() as connection:  # the first insert went with the rollback
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 2}, {"n": 3}])  # executemany
    with counted.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 3


def test_a_unit_of_work_without_statements_sends_nothing(counted):
    with counted.begin():
        pass
    with counted.connect() as connection:
        connection.rollback()
    assert CountingCursor.sent == []


def test_a_statement_that_commits_on_its_own_takes_no_begin_unless_a_transaction_is_open(
        counted):
    alone = {EACH_STATEMENT_COMMITS: True}
    with counted.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"), execution_options=alone)
        connection.execute(text("INSERT INTO t VALUES (2)"))   # a transaction from here on
        connection.execute(text("INSERT INTO t VALUES (3)"), execution_options=alone)
        connection.rollback()
    assert first_words(CountingCursor.sent) == [
        "INSERT", "BEGIN;INSERT", "INSERT", "ROLLBACK"]
    with counted.connect() as connection:   # the first was committed on its own
        assert connection.execute(text("SELECT n FROM t")).scalars().all() == [1]


def test_a_transaction_that_starts_with_an_executemany_begins_it_apart(counted):
    with counted.connect() as connection:
        connection.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 1}, {"n": 2}])
        assert CountingCursor.sent[:1] == ["BEGIN"]   # not once per row
        connection.rollback()
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
