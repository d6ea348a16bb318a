"""ServiceDatabase.reading: reads without BEGIN and COMMIT, and the connection it used goes
back to the pool taking transactions as before."""
import pytest
from sqlalchemy import text

from services.common.db import ServiceDatabase, engine_for
from services.common.migrate import drop_database, upgrade
from services.payments.models import Base


@pytest.fixture(scope="module")
def database(databases):
    uri = databases["payments"] + "_reading"
    upgrade("payments", uri)
    db = ServiceDatabase(Base)
    db.engine = engine_for(uri, pool_size=1, max_overflow=0)  # one connection: always the same
    yield db
    db.engine.dispose()
    drop_database(uri)


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
        assert not connection.connection.dbapi_connection.autocommit
        with connection.begin():
            first, second = [connection.execute(text("SELECT txid_current()")).scalar()
                             for _ in range(2)]
    assert first == second


def test_a_failed_read_leaves_the_connection_usable(database):
    with pytest.raises(Exception), database.reading() as session:
        session.execute(text("SELECT 1/0"))
    with database.reading() as session:
        assert session.execute(text("SELECT 2")).scalar() == 2
