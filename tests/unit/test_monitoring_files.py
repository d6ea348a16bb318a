"""The monitoring files compose mounts (deploy/): the alert rules and the dashboard parse as
PromQL and ask only for metrics the code defines; Prometheus scrapes each service's port.
Where promtool is installed it checks the rules file too."""
import json
import os
import re
import shutil
import subprocess

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from scripts.system import ROOT, SERVICES
from services.common import metrics

DEPLOY = os.path.join(ROOT, "deploy")
RULES = os.path.join(DEPLOY, "prometheus", "alerts.yml")
# metrics the code makes at scrape time (ReliabilityCollector) and Prometheus' own `up`
COLLECTED = {"studio_outbox_lag_seconds", "studio_outbox_unpublished", "studio_inbox_events",
             "up"}


def defined_metrics():
    names = set(COLLECTED)
    for collector in list(REGISTRY._collector_to_names):
        for family in getattr(collector, "describe", lambda: [])():
            for sample in family.samples or [type("S", (), {"name": family.name})]:
                names.add(sample.name)
            names.add(family.name)
            names.update(family.name + suffix for suffix in
                         ("_total", "_bucket", "_count", "_sum", "_created"))
    return names


def metric_names(expression):
    parsed = promql_parser.parse(expression)
    return set(re.findall(r"\b(studio_\w+|up)\b", str(parsed)))


def expressions():
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]
    with open(os.path.join(DEPLOY, "grafana", "dashboards", "studio.json")) as f:
        for panel in json.load(f)["panels"]:
            for target in panel["targets"]:
                yield panel["title"], target["expr"]


@pytest.mark.parametrize("name, expression", list(expressions()))
def test_every_expression_parses_and_asks_for_metrics_that_exist(name, expression):
    assert metrics.HTTP_REQUESTS  # the module's metrics are registered
    unknown = metric_names(expression) - defined_metrics()
    assert not unknown, f"{name}: {unknown}"


def test_the_four_alerts_the_runbook_explains_are_there():
    alerts = {name for name, _ in expressions() if not name[0].islower() and " " not in name}
    assert {"OutboxLagging", "DeadEvents", "WebhookVerificationFailures",
            "ServiceDown"} <= alerts
    with open(os.path.join(ROOT, "docs", "OPERATIONS.md")) as f:
        runbook = f.read()
    for alert in ("OutboxLagging", "DeadEvents", "WebhookVerificationFailures", "ServiceDown"):
        assert f"### {alert}" in runbook


def test_prometheus_scrapes_every_service_on_its_port():
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        scrape = {job["job_name"]: job for job in yaml.safe_load(f)["scrape_configs"]}
    assert set(scrape) == set(SERVICES)
    for name in SERVICES:
        port = 9400 + metrics.PORT_OFFSETS[name]
        if name == "gateway":  # one gateway: the published port cannot be shared
            assert scrape[name]["static_configs"] == [{"targets": [f"gateway:{port}"]}]
        else:  # every replica of a service (docker compose: the name resolves to each)
            assert scrape[name]["dns_sd_configs"] == [{"names": [name], "type": "A",
                                                       "port": port}]


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is missing: `make test` installs it (scripts/ensure_tools.sh)")
def test_promtool_accepts_the_rules_and_the_scrape_config():
    subprocess.run(["promtool", "check", "rules", RULES], check=True)
    subprocess.run(["promtool", "check", "config",
                    os.path.join(DEPLOY, "prometheus", "prometheus.yml")], check=True)
