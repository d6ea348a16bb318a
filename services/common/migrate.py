"""Create each service's database if missing and bring it to the newest migration.

    python -m services.common.migrate [service ...]     (all services when none is named)
"""
import contextlib
import os
import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.common.config import db_uri, load_config

SERVICES_WITH_DATABASE = ("booking", "payments", "integration", "notifications")
HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_database(uri):
    url = make_url(uri)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": url.database}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def drop_database(uri):
    url = make_url(uri)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def alembic_config(service_name, uri):
    cfg = Config()
    cfg.set_main_option("script_location",
                        os.path.join(HERE, "..", service_name, "migrations"))
    cfg.set_main_option("sqlalchemy.url", uri.replace("%", "%%"))
    return cfg


def upgrade(service_name, uri):
    ensure_database(uri)
    command.upgrade(alembic_config(service_name, uri), "head")


@contextlib.contextmanager
def scratch_database(service_name, uri):
    """An engine on a database of the service's own at `uri`, made and migrated, dropped
    afterwards: for tests and benchmarks whose rows the running system must not touch."""
    upgrade(service_name, uri)
    engine = create_engine(uri)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(uri)


def main(argv):
    config = load_config()
    for name in argv or SERVICES_WITH_DATABASE:
        upgrade(name, db_uri(config, name))
        print(f"migrated {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
