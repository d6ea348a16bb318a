"""PAYMENT_ENV means what it says: test talks to the providers' sandboxes, production does not
start on a default secret."""
import os
import subprocess
import sys

import pytest

from scripts.system import ROOT, SERVICES
from services.common.config import load_config
from services.common.production import default_secrets, refuse_default_secrets_in_production
from services.payments.config import Gateways

PROVIDER_URL_VARIABLES = ("YOOKASSA_API_URL", "TINKOFF_API_URL", "SBER_API_URL")
SANDBOXES = {"yookassa": "https://api.yookassa.ru/v3",  # a test shop: same API, test_ keys
             "tinkoff": "https://rest-api-test.tinkoff.ru/v2",
             "sberpay": "https://3dsec.sberbank.ru/payment/rest/"}
PRODUCTION_SECRETS = {"ADMIN_TOKEN": "a-long-random-operator-token",
                      "AMQP_URI": "amqp://studio:broker-s3cret@rabbitmq:5672/",
                      "DATABASE_URL": "postgresql://studio:db-s3cret@postgres:5432",
                      "WEBHOOK_SECRET_KEYS": "a-long-random-webhook-key",
                      "BOOKING_LINK_SECRET": "a-long-random-link-secret"}


def config_for(monkeypatch, **environment):
    for variable in (*PROVIDER_URL_VARIABLES, "YOOKASSA_SHOP_ID", "TINKOFF_TERMINAL_KEY",
                     "SBER_USERNAME", "AMQP_URI", "DATABASE_URL", "ADMIN_TOKEN", "WEBHOOK_SECRET_KEYS",
                     "BOOKING_LINK_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    return load_config()


def api_urls(config):
    gateways = Gateways.from_config(config["PAYMENTS"], config["PAYMENTS"]["env"])
    return {name: gateways.adapter(name).api_url for name in SANDBOXES}


def test_test_mode_talks_to_every_providers_sandbox_by_default(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="test")
    assert api_urls(config) == SANDBOXES


def test_production_talks_to_the_real_apis_and_an_explicit_url_wins(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="production",
                        SBER_API_URL="http://127.0.0.1:9/payment/rest/")
    assert api_urls(config) == {"yookassa": "https://api.yookassa.ru/v3",
                                "tinkoff": "https://securepay.tinkoff.ru/v2",
                                "sberpay": "http://127.0.0.1:9/payment/rest/"}


def test_test_mode_starts_with_the_development_defaults(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="test", ADMIN_TOKEN="change-me-admin-token")
    refuse_default_secrets_in_production(config)   # no error


def test_production_refuses_every_default_secret_and_names_each(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="production")
    with pytest.raises(RuntimeError) as refused:
        refuse_default_secrets_in_production(config)
    message = str(refused.value)
    for variable in ("ADMIN_TOKEN", "AMQP_URI", "DATABASE_URL", "WEBHOOK_SECRET_KEYS",
                     "BOOKING_LINK_SECRET"):
        assert variable in message


def test_production_refuses_a_configured_provider_without_its_webhook_secret(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="production", **PRODUCTION_SECRETS,
                        SBER_USERNAME="studio-api", SBER_PASSWORD="sber-s3cret",
                        TINKOFF_TERMINAL_KEY="1700000000000")
    assert sorted(default_secrets(config)) == [
        "SBER_CALLBACK_KEY is missing or a default, and sberpay is configured",
        "TINKOFF_PASSWORD is missing or a default, and tinkoff is configured"]


def test_production_starts_with_every_secret_set(monkeypatch):
    config = config_for(monkeypatch, PAYMENT_ENV="production", **PRODUCTION_SECRETS,
                        YOOKASSA_SHOP_ID="123456", YOOKASSA_SECRET_KEY="live_s3cret")
    assert default_secrets(config) == []


@pytest.mark.parametrize("process", ["gateway", "payments"])
def test_a_production_process_on_default_secrets_exits_at_start_saying_why(process):
    env = {**os.environ, "PAYMENT_ENV": "production", "ADMIN_TOKEN": "change-me-admin-token",
           "AMQP_URI": "amqp://guest:guest@127.0.0.1:9/", "PYTHONPATH": ROOT}
    nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
    started = subprocess.run([nameko, "run", "--config", "config.yaml", SERVICES[process]],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "PAYMENT_ENV=production does not start with default secrets" in started.stderr
    assert "ADMIN_TOKEN" in started.stderr
