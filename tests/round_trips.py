"""Counting what a piece of code sends to PostgreSQL: an engine (db.engine_for, as the services
make theirs) whose driver records each query; each is one round trip."""
import psycopg2.extensions

from services.common.db import engine_for


class CountingCursor(psycopg2.extensions.cursor):
    sent = []   # the queries of every counting engine, in order

    def execute(self, query, params=None):
        sent = query if params is None else self.mogrify(query, params)   # as the server gets it
        CountingCursor.sent.append(sent if isinstance(sent, str) else sent.decode())
        return super().execute(query, params)


def counting_engine(uri):
    return engine_for(uri, pool_size=1, max_overflow=0,
                      connect_args={"cursor_factory": CountingCursor})


def first_words(queries):
    """What each query was, by its first word: "BEGIN;INSERT", "COMMIT", ..."""
    return [query.split(" ")[0] for query in queries]
