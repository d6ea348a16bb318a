"""A database of a test module's own, beside the run's: for rows the running system's
couriers and timers must not touch."""
from services.common.config import db_uri
from services.common.migrate import scratch_database


def own_database(config, service, suffix):
    """An engine on `<the run's database of service>_<suffix>`, migrated; dropped after."""
    return scratch_database(service, f"{db_uri(config, service)}_{suffix}")
