"""The gateway's HTTP entrypoint: JSON in and out, one error mapping, routes that describe
themselves (the OpenAPI document is built from the same declarations)."""
import functools
import json
import logging
import re
import time
from dataclasses import dataclass

from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from contracts import schema as contract_schema
from contracts.errors.base import ServiceUnavailable, StudioError
from contracts.operators import AUDIT_PENDING
from gateway import auth as access
from gateway.errors import BodyTooLarge, MalformedBody, status_and_body
from services.common import metrics, tracing

log = logging.getLogger(__name__)


def json_response(status, data, headers=None):
    return Response(json.dumps(data, ensure_ascii=False), status=status, headers=headers,
                    mimetype="application/json")


class JsonHttpEntrypoint(HttpRequestHandler):
    def __init__(self, method, url, expected_exceptions=(StudioError, ValidationError),
                 **kwargs):
        super().__init__(method, url, expected_exceptions=expected_exceptions, **kwargs)

    def handle_request(self, request):
        """Every answer carries the request's id (X-Request-ID: the caller's if well formed,
        else a new one), and every error body has it in `details.request_id`."""
        request_id = tracing.accept(request.headers.get(tracing.REQUEST_ID_HEADER))
        request.environ[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        response = self._answer(request)
        metrics.HTTP_SECONDS.labels(self.url, self.method).observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(self.url, self.method, str(response.status_code)).inc()
        if response.status_code == 403 and self.url.startswith("/api/payments/webhook/"):
            metrics.WEBHOOKS_FORGED.labels(request.path.rsplit("/", 1)[-1]).inc()
        response.headers[tracing.REQUEST_ID_HEADER] = request_id
        if response.status_code >= 400 and response.mimetype == "application/json":
            _with_request_id(response, request_id)
        return response

    def _answer(self, request):
        limit = int(self.container.config["GATEWAY"]["max_body_bytes"])
        if request.content_length and request.content_length > limit:
            return self.response_from_exception(
                BodyTooLarge(f"The body is larger than {limit} bytes.", {"limit": limit}))
        # A body without Content-Length (chunked) is cut at the limit by werkzeug.
        request.max_content_length = limit
        response = super().handle_request(request)
        if response.status_code == 503:
            response.headers["Retry-After"] = str(
                self.container.config["GATEWAY"].get("retry_after_seconds", 2))
        return response

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status, data = result if isinstance(result, tuple) else (200, result)
        return json_response(status, data)

    def response_from_exception(self, exc):
        if isinstance(exc, RequestEntityTooLarge):
            exc = BodyTooLarge("The body is too large.")
        status, body = status_and_body(exc)
        return json_response(status, body, getattr(exc, "headers", None))


http = JsonHttpEntrypoint.decorator
REQUEST_ID_KEY = "studio.request_id"   # where a request keeps its id (request.environ)


def _with_request_id(response, request_id):
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return
    if isinstance(body, dict):
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        body["details"] = {**details, "request_id": request_id}
        response.set_data(json.dumps(body, ensure_ascii=False))


class HttpTracing(tracing.Tracing):
    """The gateway's workers: an HTTP request's id starts the chain."""

    def correlation_id_of(self, worker_ctx):
        if isinstance(worker_ctx.entrypoint, JsonHttpEntrypoint) and worker_ctx.args:
            return worker_ctx.args[0].environ.get(REQUEST_ID_KEY)
        return super().correlation_id_of(worker_ctx)


@dataclass
class Route:
    method: str
    path: str
    summary: str
    tag: str
    auth: str | None = None          # None | "admin" | "booking" (booking token or admin)
    role: str | None = None          # the least operator role an admin call needs
    body: type | None = None         # marshmallow schema class of the JSON body
    query: type | None = None        # marshmallow schema class of the query string
    response: type | None = None     # marshmallow schema class of the answer
    status: int = 200
    errors: tuple = ()
    many: bool = False
    content_type: str = "application/json"
    optional_body: bool = False
    idempotency_key: bool = False    # takes an Idempotency-Key header (a creating call)
    rate_limit: str | None = None    # a name under GATEWAY.rate_limits.per_client_ip
    with_operator: bool = False      # the method gets `operator=` (who is acting, or None)


ROUTES: list[Route] = []


@dataclass
class Caller:
    """Who is calling a customer endpoint: an operator, or the holder of a booking token."""
    is_admin: bool
    token: str | None
    operator: access.Operator | None = None

    @property
    def booking_token(self):
        """The token to hand to the booking service; None means full (operator) access."""
        return None if self.is_admin else self.token


def parse_json_body(request, optional=False):
    raw = request.get_data()
    if not raw.strip():
        if optional:
            return {}
        raise MalformedBody("The request needs a JSON body.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}.")


def api(method, path, *, summary, tag, auth=None, body=None, query=None, response=None,
        status=200, errors=(), many=False, content_type="application/json",
        optional_body=False, rate_limit=None, idempotency_key=False, role=None,
        with_operator=False):
    """Declare a JSON endpoint: rate limit, auth, body and query validation, then the method
    runs with `body=` / `query=` / `caller=` (validated, as JSON-ready dicts for the RPC) and
    returns data (or (status, data), or a Response).

    An admin endpoint needs an operator with at least `role` (default: viewer to read,
    manager to change); every change an operator makes goes into the audit trail."""
    if auth == "admin" and role is None:
        role = "viewer" if method == "GET" else "manager"
    route = Route(method, path, summary, tag, auth, role, body, query, response, status,
                  tuple(errors), many, content_type, optional_body,
                  idempotency_key=idempotency_key, rate_limit=rate_limit,
                  with_operator=with_operator)
    ROUTES.append(route)

    def decorate(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path_values):
            kwargs = dict(path_values)
            allowance = None
            if route.rate_limit and not access.is_admin(access.bearer_token(request),
                                                        self.admin_token):
                allowance = self.rate_limits.hit(route.rate_limit, request)
            operator = None
            if route.auth == "admin":
                operator = access.require_operator(request, self.admin_token,
                                                   self.integration, route.role)
            elif route.auth == "booking":
                operator = access.signed_in_operator(request, self.admin_token,
                                                     self.integration)
                if operator is not None and request.method not in access.SAFE_METHODS:
                    access.require_role(operator, "manager")
                token = None if operator is not None else access.caller_token(request)
                kwargs["caller"] = Caller(operator is not None, token, operator)
            if route.with_operator:
                kwargs["operator"] = operator
            audited = operator is not None and request.method not in access.SAFE_METHODS
            audit_id = None
            try:
                if route.query is not None:
                    kwargs["query"] = _validated(route.query, request.args.to_dict())
                if route.body is not None:
                    kwargs["body"] = _validated(route.body,
                                                parse_json_body(request, route.optional_body))
                if audited:
                    audit_id = _audit_intent(self, request, operator, fn.__name__, path_values,
                                             kwargs.get("body"))
                result = fn(self, request, **kwargs)
            except ServiceUnavailable as exc:
                _audit_outcome(self, audit_id, None, exc.code)
                raise _with_retry_advice(exc, request) from None
            except Exception as exc:
                _audit_outcome(self, audit_id, None, getattr(exc, "code", "error"))
                raise
            _audit_outcome(self, audit_id, result, "ok")
            if not isinstance(result, (tuple, Response)):
                result = route.status, result
            return _with_headers(result, allowance.headers()) if allowance else result

        return http(method, path)(endpoint)

    return decorate


def _audit_intent(service, request, operator, action, path_values, body):
    """Put an operator's change into the audit trail before it is made, as `pending`: a change
    the trail cannot hold is not made (the integration service's error answers the request),
    so none goes unrecorded. Its id, for the outcome."""
    booking_id = (path_values.get("booking_id")
                  or (body.get("booking_id") if isinstance(body, dict) else None))
    target = ", ".join(f"{key}={value}" for key, value in path_values.items()) or None
    entry = {"operator": operator.name, "role": operator.role, "action": action,
             "target": target, "booking_id": booking_id,
             "details": body if isinstance(body, dict) else {}, "outcome": AUDIT_PENDING,
             "ip": request.remote_addr, "request_id": access.request_id(request)}
    return service.integration.record_action(entry)["id"]


def _audit_outcome(service, audit_id, result, outcome):
    """How the change ended, and the booking it made (a phone booking's id comes with the
    answer). The change is made (or refused) by now: an outcome that cannot be written is
    logged, and the entry stays `pending`, not turned into an error on a change that happened."""
    if audit_id is None:
        return
    answer = result[1] if isinstance(result, tuple) else result
    answer = answer if isinstance(answer, dict) else {}
    booking_id = answer.get("booking_id") or (answer.get("booking") or {}).get("id")
    try:
        service.integration.record_outcome(audit_id, str(outcome), booking_id)
    except Exception:
        log.exception("could not record the outcome %s of audit entry %s", outcome, audit_id)


def _with_headers(result, headers):
    if isinstance(result, Response):
        result.headers.update(headers)
        return result
    status, data = result
    return json_response(status, data, headers)


def _with_retry_advice(exc, request):
    """A service did not answer: it may still have acted. Tell the client whether sending
    the same request again is safe."""
    safe = request.method in ("GET", "HEAD") or bool(request.headers.get("Idempotency-Key"))
    advice = ("Retry with the same Idempotency-Key: a repeat answers what the first did."
              if request.method not in ("GET", "HEAD") and safe else
              "Retrying is safe." if safe else
              "It may have been done: look before you retry, and send an Idempotency-Key "
              "next time.")
    # its own type (e.g. live_streams_full), so its code still says what it was
    return type(exc)(f"{exc.message}. {advice}", {**exc.details, "retry_safe": safe})


# What JSON can carry but PostgreSQL's text and jsonb cannot store: U+0000, and the halves of
# a surrogate pair on their own ("\ud800" is valid JSON, not valid Unicode text).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "The NUL character (U+0000) and lone surrogates (U+D800-U+DFFF) are not allowed."


def _unstorable_fields(value, path=""):
    """Where the strings (values or keys) holding an unstorable character are."""
    if isinstance(value, str):
        return [path or "_"] if UNSTORABLE.search(value) else []
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    found = []
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if UNSTORABLE.search(str(key)):  # the key itself: named in escapes, not kept
            found.append(UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", where))
        else:
            found += _unstorable_fields(item, where)
    return found


def _validated(schema_cls, data):
    unstorable = _unstorable_fields(data)
    if unstorable:
        raise ValidationError({field: [UNSTORABLE_MESSAGE] for field in unstorable})
    schema = contract_schema(schema_cls)
    return schema.dump(schema.load(data))
