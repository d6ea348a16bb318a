"""Database access shared by the services."""
import contextlib
import time

import eventlet
import psycogreen.eventlet
import psycopg2
from eventlet.hubs import trampoline
from nameko_sqlalchemy import Database
from nameko_sqlalchemy.database import Session
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


def engine_for(uri, **options):
    return replace_dropped_connections(create_engine(uri, **options))


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
        COMMIT, two round trips fewer than get_session. Under READ COMMITTED every statement
        of a transaction takes its own snapshot anyway, so a read sees nothing different; a
        write or a lock here would not wait for a commit, so none belongs here. (psycopg2's
        own autocommit flag: SQLAlchemy's AUTOCOMMIT isolation level would reset the level with
        a SET on the connection's next transaction.)"""
        with self.engine.connect() as connection:
            driver_connection = connection.connection.dbapi_connection
            driver_connection.autocommit = True
            try:
                with orm.Session(bind=connection, **self.session_options) as session:
                    yield session
            finally:
                if not driver_connection.closed:  # a lost connection is not reused anyway
                    driver_connection.autocommit = False


__all__ = ["DeclarativeBase", "Hearing", "Listener", "ServiceDatabase", "engine_for",
           "session_factory"]
