"""The database URL reaches psycopg2 however it is written, and the statements every event
writes through are compiled once, not on every call."""
import pytest
from sqlalchemy.dialects import postgresql

from services.common.config import libpq_uri, with_psycopg2
from services.integration import store as integration_store
from services.notifications import store as notifications_store
from services.payments import store as payments_store


@pytest.mark.parametrize("given", ["postgresql://studio:s3cret@db:5432/studio_booking",
                                   "postgresql+psycopg2://studio:s3cret@db:5432/studio_booking"])
def test_a_database_url_names_psycopg2_for_sqlalchemy_and_nothing_for_libpq(given):
    assert with_psycopg2(given) == "postgresql+psycopg2://studio:s3cret@db:5432/studio_booking"
    assert libpq_uri(given) == "postgresql://studio:s3cret@db:5432/studio_booking"


@pytest.mark.parametrize("statement", [
    integration_store._SAVE, notifications_store._ADD, notifications_store._SAVE_COPY,
    payments_store._RECORD_NOTIFICATION], ids=["event log", "notifications", "booking copies",
                                               "provider notifications"])
def test_the_upserts_of_the_hot_paths_are_kept_in_the_compiled_cache(statement):
    # SQLAlchemy before 2.1 left every ON CONFLICT statement out of its cache (None here),
    # so each call compiled it again: up to a tenth of a consumer's CPU.
    assert statement._generate_cache_key() is not None


def test_a_batch_of_log_entries_is_written_in_one_statement():
    # SQLAlchemy 2.1 sends an upsert without RETURNING row by row (one round trip each)
    columns = sorted(integration_store.entry_row(
        {"event_id": "e", "type": "booking.created", "source": "booking"}, "logged"))
    compiled = integration_store._SAVE.compile(dialect=postgresql.psycopg2.dialect(),
                                               for_executemany=True, column_keys=columns)
    assert compiled._insertmanyvalues is not None


def test_statements_that_differ_only_in_their_conflict_clause_are_not_confused():
    table = integration_store.EventLogRow.__table__
    nothing = postgresql.insert(table).on_conflict_do_nothing()
    update = postgresql.insert(table)
    update = update.on_conflict_do_update(index_elements=[table.c.event_id],
                                          set_={"status": update.excluded.status})
    assert nothing._generate_cache_key() != update._generate_cache_key()
