"""A running system holds few connections when idle, so `make run` and `make test` fit side by
side in a stock PostgreSQL (max_connections 100). The budget is in docs/ARCHITECTURE.md."""
import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from services.common.migrate import SERVICES_WITH_DATABASE

RELAY = 2        # the outbox relay: one transaction at a time + its LISTEN connection
COURIER = 2      # a courier idle: one + its LISTEN connection
COURIERS = 2     # notifications' messages, integration's outbound webhooks
HALL_WATCH = 1   # booking's LISTEN for hall changes


def idle_budget(config):
    pool_size = int(config["DB_ENGINE_OPTIONS"]["pool_size"])
    return len(SERVICES_WITH_DATABASE) * (pool_size + RELAY) + COURIERS * COURIER + HALL_WATCH


def connections_by_process(databases):
    engine = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE datname = ANY(:names) AND application_name LIKE 'studio-%' "
                "GROUP BY application_name"),
                {"names": [uri.rsplit("/", 1)[1] for uri in databases.values()]}).all()
    finally:
        engine.dispose()
    return dict(rows)


def test_an_idle_running_system_stays_within_its_connection_budget(api, databases, config):
    for _ in range(5):   # every service does some work first
        assert api.get("/health").status_code == 200
        assert api.get("/api/halls").status_code == 200
    time.sleep(1)
    held = connections_by_process(databases)
    print("connections held by an idle test system:", held)
    assert set(held) <= {f"studio-{name}" for name in SERVICES_WITH_DATABASE}, held
    assert sum(held.values()) <= idle_budget(config), held
    assert idle_budget(config) == 17   # what docs/ARCHITECTURE.md states for the suite's pools
