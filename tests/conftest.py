"""Test isolation: every run has its own databases and its own RabbitMQ vhost, so it never
shares queues or rows with a running `make run` system or with another test run."""
import os
import shutil
import tempfile

import pytest
import requests
from sqlalchemy import create_engine

from scripts.system import LOAD_TEST_LIMITS, System, free_port, rabbitmqctl

RUN_ID = f"t{os.getpid()}"
VHOST = f"studio_test_{RUN_ID}"
GATEWAY_ADDRESS = f"127.0.0.1:{free_port()}"
ADMIN_TOKEN = "test-admin-token"
TEST_ENV = {
    "DB_PREFIX": f"studio_test_{RUN_ID}",
    "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
    "WEB_SERVER_ADDRESS": GATEWAY_ADDRESS,
    "PUBLIC_URL": f"http://{GATEWAY_ADDRESS}",
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "PAYMENT_ENV": "mock",
    "INBOX_BACKOFF_BASE": "0.2",
    "LOG_LEVEL": "INFO",
    # the suite runs beside a `make run` on a stock PostgreSQL (max_connections 100)
    "DB_POOL_SIZE": "1",
    "DB_MAX_OVERFLOW": "5",
    "RATE_LIMIT_KEY_PREFIX": f"studio_test_{RUN_ID}",   # Redis is shared: keys of this run only
    # Every test client books from 127.0.0.1 and many share a phone: the hold limits are
    # tested with their own rules (tests/service/test_booking_holds.py).
    **LOAD_TEST_LIMITS,
    # every process's metrics on ports of this run's own (METRICS_PORT + offsets up to 49),
    # below the kernel's ephemeral ports (32768 on): an outgoing connection that happened to
    # hold one made a service's metrics server fail to bind now and then
    "METRICS_PORT": str(20000 + os.getpid() % 250 * 50),
    "METRICS_TOKEN": "test-metrics-token",
    # local receivers stand in for the studio's CRM
    "WEBHOOKS_HTTP_ALLOWED_HOSTS": "127.0.0.1",
    "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32",
    "WEBHOOKS_RETRY_SCHEDULE": "0.3,0.3,0.3",
}
# Before anything reads config.yaml: this process and every process it starts see these.
os.environ.update(TEST_ENV)

from services.common.config import db_uri, load_config  # noqa: E402
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade  # noqa: E402
from tests.amqp import rpc_client  # noqa: E402
from tests.integration.integration_flow import MockProviderPayer, release_holds  # noqa: E402


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def vhost():
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    yield VHOST
    rabbitmqctl("delete_vhost", VHOST)


@pytest.fixture(scope="session")
def databases(config):
    """Every service's test database, migrated to head; dropped after the run."""
    uris = {name: db_uri(config, name) for name in SERVICES_WITH_DATABASE}
    for name, uri in uris.items():
        upgrade(name, uri)
    yield uris
    for uri in uris.values():
        drop_database(uri)


@pytest.fixture(scope="session")
def engines(databases):
    """An engine on each service's test database, by service name."""
    made = {name: create_engine(uri) for name, uri in databases.items()}
    yield made
    for engine in made.values():
        engine.dispose()


@pytest.fixture(scope="session")
def system(databases, vhost):
    """The whole system running as separate processes, as `make run` starts it."""
    log_dir = tempfile.mkdtemp(prefix="studio-test-logs-")
    running = System(log_dir=log_dir)
    running.start_all()
    try:
        running.wait_healthy(timeout=90)
        yield running
    finally:
        running.stop_all()
        shutil.rmtree(log_dir, ignore_errors=True)


class Api:
    """requests against the test gateway; `admin=True` adds the operator token."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.session = requests.Session()

    def request(self, method, path, token=None, admin=False, **kwargs):
        headers = kwargs.pop("headers", {})
        if admin:
            token = ADMIN_TOKEN
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="session")
def api(system):
    return Api(system.base_url)


def pytest_collection_modifyitems(items):
    """Tests that stop the shared RabbitMQ (marked broker_restart) run after all the others."""
    items.sort(key=lambda item: item.get_closest_marker("broker_restart") is not None)


# --- for the tests of the running system (integration/, e2e/) ---------------------------------

@pytest.fixture(scope="module")
def operator(system, config):
    """An operator's RPC client (as `nameko shell` gives one)."""
    with rpc_client(config["AMQP_URI"]) as rpc:
        yield rpc


@pytest.fixture(scope="module")
def holds(operator):
    """Bookings left unpaid by a test, released when the module is done."""
    booking_ids = []
    yield booking_ids
    release_holds(operator, booking_ids)


@pytest.fixture(scope="module")
def payer(api):
    """Pays as a customer does: POST /api/payments, then the mock provider's checkout."""
    return MockProviderPayer(api)
