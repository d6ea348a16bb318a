"""A database of a test module's own, beside the run's: for rows the running system's
couriers and timers must not touch."""
import contextlib

from sqlalchemy import create_engine

from services.common.config import db_uri
from services.common.migrate import drop_database, upgrade


@contextlib.contextmanager
def own_database(config, service, suffix):
    """An engine on `<the run's database of service>_<suffix>`, migrated; dropped after."""
    uri = f"{db_uri(config, service)}_{suffix}"
    upgrade(service, uri)
    engine = create_engine(uri)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(uri)
