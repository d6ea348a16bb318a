"""Fixtures of the integration tests: a whole system of a test's own."""
import shutil
import tempfile

import pytest

from scripts.system import System, free_port, rabbitmqctl
from services.common.config import db_uri, load_config
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade
from tests.conftest import RUN_ID


@pytest.fixture
def own_env():
    """What a module's own system is run with beyond its own databases and vhost."""
    return {}


@pytest.fixture
def own_world(monkeypatch, own_env):
    """(config, System, log folder) with databases, a vhost and ports of this test alone, for
    what would disturb the session's system (dropping its databases, other queue types)."""
    prefix = vhost = f"studio_test_{RUN_ID}_own"
    address = f"127.0.0.1:{free_port()}"
    env = {"DB_PREFIX": prefix, "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
           "WEB_SERVER_ADDRESS": address, "PUBLIC_URL": f"http://{address}",
           "METRICS_PORT": "0", **own_env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = load_config()
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    for name in SERVICES_WITH_DATABASE:
        upgrade(name, db_uri(config, name))
    log_dir = tempfile.mkdtemp(prefix="studio-own-system-")
    try:
        yield config, System(env=env, log_dir=log_dir), log_dir
    finally:
        for name in SERVICES_WITH_DATABASE:
            drop_database(db_uri(config, name))
        rabbitmqctl("delete_vhost", vhost)
        shutil.rmtree(log_dir, ignore_errors=True)
