"""Prometheus metrics of every process: what it served, called, published and handled.

The backend services have no HTTP server of their own (nameko under eventlet serves AMQP), so
each process serves its metrics on a port of its own, started once by `Metrics` from
METRICS.port (0: none) + the service's offset + PROCESS_INDEX (the n-th process of a
service); Prometheus scrapes each. A push gateway would be wrong for processes that live
long and compete for the same queues: their series would overwrite each other. The gateway
also answers GET /metrics (for METRICS.token), as every HTTP service does.

Counters live in the process's default registry, defined once at import: a test running
several containers in one process shares them, which only adds up.
Outbox lag and size and the inbox's failed and dead counts are read from the service's
database when Prometheus scrapes, by one small query each; nothing is counted per event there.
"""
import logging
import os
import threading
import time

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from services.common.config import db_uri

log = logging.getLogger(__name__)

# Each service's processes serve metrics on METRICS.port + offset + PROCESS_INDEX (0..9).
PORT_OFFSETS = {"booking": 0, "payments": 10, "integration": 20, "notifications": 30,
                "gateway": 40}

HTTP_REQUESTS = Counter("studio_http_requests_total", "HTTP requests answered by the gateway",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("studio_http_request_seconds", "Time to answer an HTTP request",
                         ["route", "method"])
RPC_CALLS = Counter("studio_rpc_client_calls_total", "RPC calls made, by outcome "
                    "(ok, error: the service answered with an error, timeout)",
                    ["service", "method", "outcome"])
RPC_CALL_SECONDS = Histogram("studio_rpc_client_seconds", "Time an RPC call took",
                             ["service", "method"])
RPC_SERVED = Counter("studio_rpc_server_calls_total", "RPC calls served, by outcome",
                     ["service", "method", "outcome"])
RPC_SERVED_SECONDS = Histogram("studio_rpc_server_seconds", "Time to serve an RPC call",
                               ["service", "method"])
EVENTS_PUBLISHED = Counter("studio_events_published_total", "Events the outbox published",
                           ["source", "type"])
EVENTS_HANDLED = Counter("studio_events_handled_total", "Events a handler decided, by outcome "
                         "(done, skipped: a repeat, failed, dead)",
                         ["service", "handler", "type", "outcome"])
PAYMENTS = Counter("studio_payments_total", "Payments settled, by gateway (the provider) and "
                   "outcome (succeeded, failed, refunded, amount_mismatch, refund_failed)",
                   ["gateway", "outcome"])
TAKINGS = Counter("studio_takings_kopecks_total", "Money taken online, kopecks", ["currency"])
NOTIFICATIONS = Counter("studio_notifications_total", "Messages delivered or given up on",
                        ["channel", "outcome"])
WEBHOOKS_FORGED = Counter("studio_webhook_verification_failures_total",
                          "Provider webhooks refused as not genuine", ["gateway"])
LIVE_STREAMS = Gauge("studio_live_streams_open", "Live (SSE) streams open in this process")

_server_lock = threading.Lock()
_serving = []


def observe_published(source, envelopes):
    """The relay published these envelopes (confirmed by the broker)."""
    for envelope in envelopes:
        event_type = envelope["type"]
        EVENTS_PUBLISHED.labels(source, event_type).inc()
        payload = envelope.get("payload") or {}
        noun, _, outcome = event_type.partition(".")
        if noun == "payment" and payload.get("gateway"):
            PAYMENTS.labels(payload["gateway"], outcome).inc()
            if outcome == "succeeded":
                TAKINGS.labels(payload.get("currency", "RUB")).inc(int(payload.get("amount", 0)))
        elif noun == "notification" and payload.get("channel"):
            NOTIFICATIONS.labels(payload["channel"], outcome).inc()


def observe_handled(service, handler_name, envelope, outcome):
    """An inbox handler decided an event; `service` is the nameko service instance."""
    EVENTS_HANDLED.labels(getattr(service, "name", type(service).__name__), handler_name,
                          envelope.get("type", ""), outcome).inc()


class ReliabilityCollector:
    """Outbox lag and size, inbox failed and dead counts, read from the database at scrape,
    on a connection of the scrape's own (no pool: an idle service holds no more connections,
    docs/ARCHITECTURE.md's budget)."""

    def __init__(self, service_name, uri):
        from services.common.db import session_factory  # not for the gateway (no database)
        self.service_name = service_name
        self.Session = session_factory(uri, poolclass=NullPool)

    @staticmethod
    def _families():
        return (GaugeMetricFamily("studio_outbox_lag_seconds",
                                  "Age of the oldest unpublished event", labels=["service"]),
                GaugeMetricFamily("studio_outbox_unpublished", "Events not yet published",
                                  labels=["service"]),
                GaugeMetricFamily("studio_inbox_events", "Events waiting in the inbox, by status",
                                  labels=["service", "status"]))

    def describe(self):
        """What collect() yields, without asking the database (registering calls this)."""
        return self._families()

    def collect(self):
        lag, size, inbox = self._families()
        try:
            with self.Session() as session:
                count, age = session.execute(text(
                    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                    "FROM outbox WHERE published_at IS NULL")).one()
                statuses = dict(session.execute(text(
                    "SELECT status, count(*) FROM inbox WHERE status IN ('failed', 'dead') "
                    "GROUP BY status")).all())
        except Exception as exc:   # a scrape must not fail with the database away
            log.warning("metrics: could not read the outbox and inbox: %s", exc)
            return
        lag.add_metric([self.service_name], float(age))
        size.add_metric([self.service_name], count)
        for status in ("failed", "dead"):
            inbox.add_metric([self.service_name, status], statuses.get(status, 0))
        yield from (lag, size, inbox)


def serve(port, address="127.0.0.1"):
    """Serve this process's metrics on `port`, once per process."""
    with _server_lock:
        if _serving:
            return
        try:
            start_http_server(port, addr=address)
        except OSError as exc:
            log.warning("metrics: port %s is not free (%s): not serving metrics", port, exc)
            return
        _serving.append(port)
        log.info("metrics on :%s/metrics", port)


class Metrics(DependencyProvider):
    """Serves the process's metrics (METRICS.port) and counts the RPC calls it serves."""

    def setup(self):
        name = self.container.service_name
        settings = self.container.config.get("METRICS") or {}
        base = int(settings.get("port") or 0)
        if base and name in PORT_OFFSETS:
            serve(base + PORT_OFFSETS[name] + int(os.environ.get("PROCESS_INDEX") or 0),
                  str(settings.get("address") or "127.0.0.1"))
        if f"{name}:Base" in (self.container.config.get("DB_URIS") or {}):
            with _server_lock:
                if not any(isinstance(c, ReliabilityCollector) for c in _collectors):
                    collector = ReliabilityCollector(name, db_uri(self.container.config, name))
                    REGISTRY.register(collector)
                    _collectors.append(collector)
        self._started = {}

    def worker_setup(self, worker_ctx):
        if isinstance(worker_ctx.entrypoint, Rpc):
            self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        name, method = self.container.service_name, worker_ctx.entrypoint.method_name
        RPC_SERVED.labels(name, method, "ok" if exc_info is None else "error").inc()
        RPC_SERVED_SECONDS.labels(name, method).observe(time.perf_counter() - started)


_collectors = []
