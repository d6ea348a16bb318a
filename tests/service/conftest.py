"""Fixtures of the service tests: the payments use cases' world of fake providers and the
endpoint their notifications reach."""
import base64
import json
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from gateway.errors import status_and_body
from services.common.config import db_uri
from services.common.migrate import alembic_config, drop_database, ensure_database, upgrade
from services.payments import webhooks
from services.payments.config import Gateways
from services.payments.providers import build_provider
from tests.fakes.providers import FakeSber, FakeTinkoff, FakeYooKassa, LocalServer


class OurWebhooks(LocalServer):
    """Our webhook endpoint: what the gateway does, without the gateway."""

    def __init__(self):
        super().__init__()
        self.sessions = self.gateways = None

    def answer(self, method, path, query, headers, body, remote_addr):
        try:
            reply = webhooks.handle_webhook(
                self.sessions, self.gateways, path.rsplit("/", 1)[-1], headers,
                base64.b64encode(body).decode(), query, remote_addr, datetime.now(timezone.utc))
        except Exception as exc:
            status, error = status_and_body(exc)
            return status, "application/json", json.dumps(error)
        return reply["status"], reply["content_type"], reply["body"]


@pytest.fixture(scope="module")
def sessions(databases):
    """A payments database of this module's own: reconciliation here sweeps every pending
    payment, and must not touch those of the system the e2e tests run."""
    uri = databases["payments"] + "_ops"
    upgrade("payments", uri)
    engine = create_engine(uri)
    yield sessionmaker(bind=engine, expire_on_commit=False).begin
    engine.dispose()
    drop_database(uri)


@pytest.fixture(scope="module")
def endpoint(sessions):
    with OurWebhooks() as server:
        server.sessions = sessions
        yield server


@pytest.fixture(scope="module")
def fakes(endpoint):
    yookassa = FakeYooKassa(notify_url=endpoint.url + "/webhook/yookassa").start()
    tinkoff = FakeTinkoff().start()
    sber = FakeSber(callback_url=endpoint.url + "/webhook/sberpay").start()
    yield {"yookassa": yookassa, "tinkoff": tinkoff, "sberpay": sber}
    for fake in (yookassa, tinkoff, sber):
        fake.stop()


def adapters(fakes, endpoint, **overrides):
    settings = {
        "yookassa": {"api_url": fakes["yookassa"].api_url, "shop_id": "123456",
                     "secret_key": "test_secret", "allowed_networks": ["127.0.0.1/32"],
                     "timeout": 5},
        "tinkoff": {"api_url": fakes["tinkoff"].api_url, "terminal_key": "TestTerminal",
                    "password": "test_password", "timeout": 5,
                    "notification_url": endpoint.url + "/webhook/tinkoff"},
        "sberpay": {"api_url": fakes["sberpay"].api_url, "username": "test-api",
                    "password": "test_password", "callback_key": "callback_key", "timeout": 5},
    }
    for name, changes in overrides.items():
        settings[name] = {**settings[name], **changes}
    return {name: build_provider(name, values) for name, values in settings.items()}


@pytest.fixture(scope="module")
def gateways(fakes, endpoint):
    gateways = Gateways("test", adapters(fakes, endpoint))
    endpoint.gateways = gateways
    return gateways


@pytest.fixture
def database_at(config):
    """An empty database of the service's own, at a given revision, with its alembic config
    to upgrade it further (a migration's test); dropped after."""
    made = []

    def at(service, revision):
        uri = f"{db_uri(config, service)}_at_{revision.lower()}"
        ensure_database(uri)
        command.upgrade(alembic_config(service, uri), revision)
        engine = create_engine(uri)
        made.append((engine, uri))
        return engine, alembic_config(service, uri)
    yield at
    for engine, uri in made:
        engine.dispose()
        drop_database(uri)
