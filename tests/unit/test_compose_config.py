"""docker-compose.yml agrees with config.yaml and the launcher: no Docker engine runs here, so
this is what keeps `make up` honest. Where a compose client is installed it also parses the
file."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from scripts.healthcheck import service_of
from scripts.system import ROOT, SERVICES, System
from services.common.config import load_config
from services.payments.config import Settings

COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DEVELOPMENT = os.path.join(ROOT, "docker-compose.override.yml")
SECRETS = {"ADMIN_TOKEN", "TELEGRAM_BOT_TOKEN", "SMTP_PASSWORD", "YOOKASSA_SECRET_KEY",
           "TINKOFF_PASSWORD", "SBER_PASSWORD", "SBER_CALLBACK_KEY", "MOCK_WEBHOOK_SECRET",
           "BOOKING_LINK_SECRET", "WEBHOOK_SECRET_KEYS", "METRICS_TOKEN"}


@pytest.fixture(scope="module")
def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)["services"]


def interpolate(value):
    """Compose's ${VAR:-default} with nothing set in the environment."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def config_reads():
    with open(os.path.join(ROOT, "config.yaml")) as f:
        return set(re.findall(r"\$\{(\w+):", f.read()))


@pytest.fixture(scope="module")
def development():
    with open(DEVELOPMENT) as f:
        return yaml.safe_load(f)["services"]


def test_every_process_of_make_run_is_a_container_running_the_same_class(compose):
    for name, target in SERVICES.items():
        assert compose[name]["command"] == ["nameko", "run", "--config", "config.yaml", target]
        # the image's HEALTHCHECK watches it; compose only sets the timings
        assert "test" not in compose[name]["healthcheck"], name
        assert compose[name]["healthcheck"]["start_period"], name
    assert compose["migrate"]["healthcheck"] == {"disable": True}
    assert compose["migrate"]["command"][-1] == (
        "python -m services.common.migrate && python -m services.booking.demo_data")


def test_every_variable_given_to_the_containers_is_one_config_yaml_reads(compose):
    reads = config_reads()
    for name in [*SERVICES, "migrate"]:
        given = set(compose[name]["environment"])
        assert given <= reads, (name, given - reads)
        assert SECRETS <= given, (name, SECRETS - given)
        provider_urls = {"YOOKASSA_API_URL", "TINKOFF_API_URL", "SBER_API_URL"}
        assert provider_urls <= given, (name, provider_urls - given)


def test_the_containers_config_points_at_the_compose_hosts(compose, monkeypatch):
    for variable, value in compose["gateway"]["environment"].items():
        monkeypatch.setenv(variable, interpolate(str(value)))
    config = load_config()
    assert config["AMQP_URI"].startswith("amqp://") and "@rabbitmq:5672/" in config["AMQP_URI"]
    assert all("@postgres:5432/studio_" in uri for uri in config["DB_URIS"].values())
    assert config["WEB_SERVER_ADDRESS"] == "0.0.0.0:8000"
    assert "8000" in compose["gateway"]["ports"][0]
    settings = Settings.from_config(config["PAYMENTS"], config["PUBLIC_URL"])
    # the browser goes to PUBLIC_URL; the payments container posts webhooks to the gateway
    assert settings.mock_webhook_url == "http://gateway:8000/api/payments/webhook/mock"
    assert config["PAYMENTS"]["providers"]["mock"]["checkout_url"].startswith(
        config["PUBLIC_URL"])


def test_without_a_webhook_url_the_mock_posts_to_the_public_url():
    config = load_config()
    settings = Settings.from_config({**config["PAYMENTS"], "providers": {"mock": {}}},
                                    "http://studio.example:8000/")
    assert settings.mock_webhook_url == "http://studio.example:8000/api/payments/webhook/mock"


def compose_client():
    """The compose client to check the file with: `docker-compose` (make test installs it,
    scripts/ensure_tools.sh), else a `docker` whose compose plugin answers; None if neither."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        # `docker` without the plugin takes `compose -f` for its own flags (exit 125), so ask
        # the plugin itself first.
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               text=True, timeout=60)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.parametrize("files", [[COMPOSE], [COMPOSE, DEVELOPMENT]],
                         ids=["production", "development"])
def test_a_compose_client_parses_the_files(files):
    command = compose_client()
    if command is None:
        pytest.skip("no compose client: `make test` installs docker-compose "
                    "(scripts/ensure_tools.sh)")
    named = [argument for path in files for argument in ("-f", path)]
    result = subprocess.run([*command, *named, "config", "-q"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_service_runs_as_many_containers_as_make_run_runs_processes(compose, monkeypatch):
    for name in SERVICES:
        if name == "gateway":  # one published port: more gateways go behind a proxy
            assert "replicas" not in compose[name]["deploy"]
            continue
        variable = f"{name.upper()}_PROCESSES"
        assert compose[name]["deploy"]["replicas"] == f"${{{variable}:-1}}"
        monkeypatch.setenv(variable, "3")
        assert System(env=dict(os.environ)).process_count(name) == 3
        assert compose[name]["deploy"]["resources"]["limits"]["memory"], name


def test_development_mounts_the_code_and_catches_mail_and_production_does_not(
        compose, development):
    for name in [*SERVICES, "migrate"]:
        mounts = development[name]["volumes"]
        assert "./services:/app/services:ro" in mounts, name
        assert development[name]["environment"]["SMTP_HOST"] == "mailpit", name
        assert not compose[name].get("volumes"), name
    assert "mailpit" in development and "mailpit" not in compose
    # no secret has a value in the development file
    for service in development.values():
        assert SECRETS.isdisjoint(service.get("environment", {})), service


def test_the_services_run_read_only_bounded_and_restarting(compose):
    for name in SERVICES:
        service = compose[name]
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
        assert service["restart"] == "unless-stopped", name
    published = {name for name, service in compose.items() if service.get("ports")}
    # the gateway is the one public door; the rest listen on 127.0.0.1 only
    assert all(port.startswith("127.0.0.1:") for name in published - {"gateway"}
               for port in compose[name]["ports"])


def test_the_image_runs_as_a_user_with_no_secret_baked_in():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert re.search(r'^HEALTHCHECK .*\\\n\s+CMD \["python", "-m", "scripts.healthcheck"\]$',
                     dockerfile, re.M)
    for secret in SECRETS | {"PASSWORD", "TOKEN", "SECRET"}:
        assert not re.search(rf"^(ENV|ARG) .*{secret}", dockerfile, re.M), secret


def test_the_images_healthcheck_watches_the_service_its_container_runs(compose):
    for name in SERVICES:
        assert service_of(compose[name]["command"]) == name
    assert service_of(compose["migrate"]["command"]) is None
