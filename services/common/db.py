"""Database access shared by the services."""
import contextlib
import time

import eventlet
import psycogreen.eventlet
import psycopg2
from eventlet.hubs import trampoline
from nameko_sqlalchemy import Database
from nameko_sqlalchemy.database import Session
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import create_engine, event, orm
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from services.common.config import db_uri, libpq_uri
from services.common.input import uuid_or_none


def make_psycopg_cooperative():
    """psycopg2 blocks the whole eventlet hub on every query unless its waits go through
    eventlet; every service process calls this before its first query (idempotent). Plain
    processes (tests, scripts) don't, and keep ordinary blocking psycopg2."""
    psycogreen.eventlet.patch_psycopg()


# The real select(), for a zero-timeout look at a socket without a trip through the hub.
_select = eventlet.patcher.original("select")
# A connection idle this long may have been cut without a word (a firewall, a lost host): it
# gets a round trip before it is used.
PING_AFTER_IDLE_SECONDS = 30.0


def was_dropped(dbapi_connection):
    """True when PostgreSQL has closed this idle connection: a terminated backend or a server
    going down writes its FATAL and closes the socket, so there is something to read. A healthy
    idle connection (pooled ones LISTEN to nothing) has nothing to say. No round trip. (The
    rare harmless message, a parameter changed by a configuration reload, costs a reconnect.)"""
    if dbapi_connection.closed:
        return True
    readable, _, _ = _select.select([dbapi_connection.fileno()], [], [], 0)
    return bool(readable)


def answers(dbapi_connection):
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
        return True
    except psycopg2.Error:
        return False


def replace_dropped_connections(engine):
    """Check each connection taken from the pool, as pool_pre_ping does, but without its round
    trip on every checkout: a look at the socket always, a `SELECT 1` only after a long idle.
    Under load a connection comes back within milliseconds and costs nothing; one PostgreSQL
    dropped (a restart, pg_terminate_backend) is replaced before anyone uses it."""

    @event.listens_for(engine, "checkout")
    def check(dbapi_connection, record, proxy):
        idle = time.monotonic() - record.info.get("returned_at", 0.0)
        if was_dropped(dbapi_connection) or (idle > PING_AFTER_IDLE_SECONDS
                                             and not answers(dbapi_connection)):
            raise DisconnectionError("the database closed this connection")  # the pool reconnects

    def returned(dbapi_connection, record):  # to the pool, or new
        record.info["returned_at"] = time.monotonic()

    event.listen(engine, "checkin", returned)
    event.listen(engine, "connect", returned)
    return engine


# The execution option of a statement (or of every statement of a connection) that commits on
# its own when no transaction is open: no BEGIN goes with it. Inside a transaction it is one
# statement more of it.
EACH_STATEMENT_COMMITS = "each_statement_commits"


def begin_with_first_statement(engine):
    """Transactions as usual, one round trip fewer each. psycopg2 sends its BEGIN as a query of
    its own before a transaction's first statement; every round trip wakes PostgreSQL and costs
    both sides more CPU than a short statement does. So the driver's connections run in
    autocommit, and the BEGIN goes in front of the transaction's first statement, in the same
    query ("BEGIN;INSERT ..."). COMMIT and ROLLBACK are sent only when a transaction is open
    (libpq knows without a round trip), so a unit of work that ran no statement sends none.
    What a transaction sees and guarantees is unchanged: the server runs the same BEGIN."""

    @event.listens_for(engine, "connect")
    def driver_autocommit(dbapi_connection, record):
        dbapi_connection.rollback()  # what the dialect read on connecting, if anything
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def begin(connection, cursor, statement, parameters, context, executemany):
        options = (context.execution_options if context is not None
                   else connection.get_execution_options())   # the statement's and the connection's
        if (cursor.connection.info.transaction_status == TRANSACTION_STATUS_IDLE
                and not options.get(EACH_STATEMENT_COMMITS)):
            if executemany:  # run once per row: the BEGIN is a query of its own then
                cursor.execute("BEGIN")
            else:
                statement = "BEGIN;" + statement
        return statement, parameters

    def finish(command):
        def end_transaction(pooled_connection):
            driver_connection = pooled_connection.dbapi_connection
            if driver_connection.info.transaction_status != TRANSACTION_STATUS_IDLE:
                with driver_connection.cursor() as cursor:
                    cursor.execute(command)
        return end_transaction

    # the dialect's own commit/rollback call the driver's, which autocommit makes no-ops
    engine.dialect.do_commit = finish("COMMIT")
    engine.dialect.do_rollback = finish("ROLLBACK")
    return engine


def engine_for(uri, **options):
    return begin_with_first_statement(replace_dropped_connections(create_engine(uri, **options)))


def row_by_id(session, model, row_id, for_update=False):
    """The row of `model` whose UUID key is `row_id`, locked with for_update; None when there
    is none, or when the text is no UUID at all (PostgreSQL would refuse to compare it)."""
    key = uuid_or_none(row_id)
    # a lock always reads the row (Session.get skips its identity map then)
    return None if key is None else session.get(model, key, with_for_update=for_update or None)


def session_factory(uri, **options):
    return sessionmaker(bind=engine_for(uri, **options), expire_on_commit=False)


class Listener:
    """A connection of its own that LISTENs on one channel, so a green thread can sleep until
    a commit elsewhere sends a NOTIFY there. LISTEN is issued on connecting, before the
    caller's first look at its table, so no commit slips between the two."""

    def __init__(self, uri, channel):
        self.connection = psycopg2.connect(libpq_uri(uri))
        self.connection.autocommit = True
        self.connection.cursor().execute(f"LISTEN {channel}")

    def wait(self, timeout=None):
        """Block this green thread until a NOTIFY (True) or `timeout` seconds (False)."""
        try:
            trampoline(self.connection, read=True, timeout=timeout,
                       timeout_exc=eventlet.Timeout)
        except eventlet.Timeout:
            pass
        self.connection.poll()
        notified = bool(self.connection.notifies)
        self.connection.notifies.clear()
        return notified

    def close(self):
        try:
            self.connection.close()
        except Exception:  # already gone: closing is all we wanted
            pass


class Hearing:
    """A channel heard across lost connections, one round at a time (for
    services.common.loops.run_rounds). A round (re)connects when it has no Listener and then
    calls `listening()` (whatever was committed while nobody listened went unheard), waits for
    a NOTIFY and calls `heard()`. With `check_seconds` a quiet wait ends in a `SELECT 1`, so a
    connection cut without a word is found too. A lost connection raises; `close()` after it."""

    def __init__(self, uri, channel, heard, listening, check_seconds=None):
        self.uri, self.channel = uri, channel
        self.heard, self.listening = heard, listening
        self.check_seconds = check_seconds
        self.listener = None

    def one_round(self):
        self.listen()
        self.hear(self.check_seconds)

    def listen(self):
        if self.listener is None:
            self.listener = Listener(self.uri, self.channel)
            self.listening()

    def hear(self, timeout):
        if self.listener.wait(timeout):
            self.heard()
        elif timeout is not None:
            self.listener.connection.cursor().execute("SELECT 1")  # still there?

    def close(self):
        if self.listener is not None:
            self.listener.close()
            self.listener = None


class ServiceDatabase(Database):
    """nameko-sqlalchemy's Database, with the engine options from config and sessions that
    keep their objects readable after commit (entrypoints dump them after the unit of work)."""

    def __init__(self, declarative_base):
        super().__init__(declarative_base, session_options={"expire_on_commit": False})

    def setup(self):
        make_psycopg_cooperative()
        config = self.container.config
        service_name = self.container.service_name
        own_pool = (config.get("DB_POOLS") or {}).get(service_name) or {}
        self.engine_options = {**(config.get("DB_ENGINE_OPTIONS") or {}), **own_pool}
        self.db_uri = db_uri(config, service_name)
        self.engine = engine_for(self.db_uri, **self.engine_options)
        self.Session = sessionmaker(bind=self.engine, class_=Session, **self.session_options)

    def get_dependency(self, worker_ctx):
        wrapper = super().get_dependency(worker_ctx)  # nameko-sqlalchemy's: get_session
        wrapper.reading = self.reading
        return wrapper

    @contextlib.contextmanager
    def reading(self):
        """A session for reads only, each statement committed on its own: no BEGIN and no
        COMMIT, a round trip fewer than get_session. Under READ COMMITTED every statement of a
        transaction takes its own snapshot anyway, so a read sees nothing different; a write or
        a lock here would not wait for a commit, so none belongs here."""
        with self.engine.connect() as connection:
            connection.execution_options(**{EACH_STATEMENT_COMMITS: True})
            with orm.Session(bind=connection, **self.session_options) as session:
                yield session


__all__ = ["DeclarativeBase", "EACH_STATEMENT_COMMITS", "Hearing", "Listener",
           "ServiceDatabase", "engine_for", "session_factory"]
