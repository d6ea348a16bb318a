"""The gateway's HTTP entrypoint: JSON in and out, one error mapping, routes that describe
themselves (the OpenAPI document is built from the same declarations)."""
import functools
import json
from dataclasses import dataclass

from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from contracts import schema as contract_schema
from gateway import auth as access
from gateway.errors import BodyTooLarge, MalformedBody, status_and_body
from contracts.errors.base import StudioError


def json_response(status, data, headers=None):
    return Response(json.dumps(data, ensure_ascii=False), status=status, headers=headers,
                    mimetype="application/json")


class JsonHttpEntrypoint(HttpRequestHandler):
    def __init__(self, method, url, expected_exceptions=(StudioError, ValidationError),
                 **kwargs):
        super().__init__(method, url, expected_exceptions=expected_exceptions, **kwargs)

    def handle_request(self, request):
        limit = int(self.container.config["GATEWAY"]["max_body_bytes"])
        if request.content_length and request.content_length > limit:
            return self.response_from_exception(
                BodyTooLarge(f"The body is larger than {limit} bytes.", {"limit": limit}))
        # A body without Content-Length (chunked) is cut at the limit by werkzeug.
        request.max_content_length = limit
        return super().handle_request(request)

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status, data = result if isinstance(result, tuple) else (200, result)
        return json_response(status, data)

    def response_from_exception(self, exc):
        if isinstance(exc, RequestEntityTooLarge):
            exc = BodyTooLarge("The body is too large.")
        status, body = status_and_body(exc)
        return json_response(status, body)


http = JsonHttpEntrypoint.decorator


@dataclass
class Route:
    method: str
    path: str
    summary: str
    tag: str
    auth: str | None = None          # None | "admin" | "booking" (booking token or admin)
    body: type | None = None         # marshmallow schema class of the JSON body
    query: type | None = None        # marshmallow schema class of the query string
    response: type | None = None     # marshmallow schema class of the answer
    status: int = 200
    errors: tuple = ()
    many: bool = False
    content_type: str = "application/json"
    optional_body: bool = False


ROUTES: list[Route] = []


@dataclass
class Caller:
    """Who is calling a customer endpoint: an operator, or the holder of a booking token."""
    is_admin: bool
    token: str | None

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
        optional_body=False):
    """Declare a JSON endpoint: auth, body and query validation, then the method runs with
    `body=` / `query=` / `caller=` (validated, as JSON-ready dicts for the RPC) and returns
    data (or (status, data), or a Response)."""
    route = Route(method, path, summary, tag, auth, body, query, response, status,
                  tuple(errors), many, content_type, optional_body)
    ROUTES.append(route)

    def decorate(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path_values):
            kwargs = dict(path_values)
            if route.auth == "admin":
                access.require_admin(request, self.admin_token)
            elif route.auth == "booking":
                token = access.caller_token(request)
                kwargs["caller"] = Caller(access.is_admin(token, self.admin_token), token)
            if route.query is not None:
                kwargs["query"] = _validated(route.query, request.args.to_dict())
            if route.body is not None:
                kwargs["body"] = _validated(route.body,
                                            parse_json_body(request, route.optional_body))
            result = fn(self, request, **kwargs)
            if isinstance(result, (tuple, Response)):
                return result
            return route.status, result

        return http(method, path)(endpoint)

    return decorate


def _validated(schema_cls, data):
    schema = contract_schema(schema_cls)
    return schema.dump(schema.load(data))
