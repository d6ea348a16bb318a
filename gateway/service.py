"""The gateway: the only HTTP door. Thin endpoints: authorize, validate, one RPC, answer."""
import hmac

import eventlet
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from werkzeug.wrappers import Response

from gateway import auth as access
from gateway.admin_api import AdminApi
from gateway.admin_pages import AdminPages, dashboard_settings
from gateway.booking_api import BookingApi
from gateway.closures_api import ClosuresApi
from gateway.errors import RouteNotFound, Unauthorized
from gateway.halls_api import HallsApi
from gateway.http import HttpTracing, api, http
from gateway.ical import CalendarApi
from gateway.integration_api import IntegrationApi
from gateway.live_api import LiveApi
from gateway.notifications_api import NotificationsApi
from gateway.openapi import build_spec
from gateway.pages import BookingPages
from gateway.payments_api import PaymentsApi
from gateway.rate_limits import RateLimiter
from gateway.reports_api import ReportsApi
from gateway.webhooks_api import WebhooksApi
from services.common.config import Config
from services.common.heap import FrozenStartupHeap
from services.common.metrics import Metrics
from services.common.production import ProductionSecrets
from services.common.rpc import TimedRpcProxy

SERVICES = ("booking", "payments", "integration", "notifications")


class AdminToken(DependencyProvider):
    """The operator token from config (production refuses the default: ProductionSecrets)."""

    def setup(self):
        self.token = str(self.container.config["ADMIN_TOKEN"] or "")

    def get_dependency(self, worker_ctx):
        return self.token


class MetricsSettings(Config):
    def build(self, config):
        return dict(config.get("METRICS") or {})


class PublicUrl(Config):
    def build(self, config):
        return str(config.get("PUBLIC_URL") or "")


class OperatorRules(Config):
    def build(self, config):
        return {key: int(value) for key, value in config["OPERATORS"].items()}


class DashboardSettings(Config):
    def build(self, config):
        return dashboard_settings(config)


class GatewayService(BookingApi, LiveApi, NotificationsApi, PaymentsApi, IntegrationApi,
                     CalendarApi, WebhooksApi, BookingPages, AdminApi, AdminPages, ReportsApi,
                     ClosuresApi, HallsApi):
    name = "gateway"

    tracing = HttpTracing()
    metrics = Metrics()
    config_metrics = MetricsSettings()
    admin_token = AdminToken()
    production_secrets = ProductionSecrets()
    startup_heap = FrozenStartupHeap()
    rate_limits = RateLimiter()
    public_url = PublicUrl()
    operator_rules = OperatorRules()
    dashboard_settings = DashboardSettings()
    booking = TimedRpcProxy("booking")
    payments = TimedRpcProxy("payments")
    integration = TimedRpcProxy("integration")
    notifications = TimedRpcProxy("notifications")
    health_booking = TimedRpcProxy("booking", timeout=2)
    health_payments = TimedRpcProxy("payments", timeout=2)
    health_integration = TimedRpcProxy("integration", timeout=2)
    health_notifications = TimedRpcProxy("notifications", timeout=2)

    @api("GET", "/health", summary="Liveness of the gateway and every service", tag="system")
    def health(self, request):
        return self._health(SERVICES)

    @api("GET", "/health/<service>", summary="Liveness of one service (one RPC ping)",
         tag="system")
    def service_health(self, request, service):
        if service not in SERVICES:
            raise RouteNotFound(f"There is no service {service!r}.",
                                {"service": service, "services": list(SERVICES)})
        return self._health([service])

    def _health(self, names):
        def ping(name):
            try:
                getattr(self, f"health_{name}").ping()
                return name, "ok"
            except Exception:
                return name, "unavailable"

        services = dict(eventlet.GreenPool().imap(ping, names))
        healthy = all(state == "ok" for state in services.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded",
                                           "services": services}

    @api("GET", "/metrics", tag="system", content_type="text/plain",
         summary="Prometheus metrics of this gateway process, for the bearer of METRICS.token "
                 "(404 when no token is set: not for the public)")
    def prometheus_metrics(self, request):
        token = str((self.config_metrics or {}).get("token") or "")
        if not token:
            raise RouteNotFound("There is no GET /metrics.", {"path": "/metrics"})
        if not hmac.compare_digest(access.bearer_token(request) or "", token):
            raise Unauthorized("The metrics need the metrics token.", {})
        return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)

    @api("GET", "/api/openapi.json", summary="This API as an OpenAPI 3 document", tag="system")
    def openapi(self, request):
        return build_spec()

    @http("GET,POST,PUT,PATCH,DELETE", "/<path:path>")
    def unknown_route(self, request, path):
        raise RouteNotFound(f"There is no {request.method} /{path}.",
                            {"path": "/" + path, "method": request.method})
