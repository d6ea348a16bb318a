"""The OpenAPI 3 document, built by apispec from the routes' marshmallow schemas.

    python -m gateway.openapi > docs/openapi.json

A test keeps docs/openapi.json equal to this output: the HTTP API is a public contract.
"""
import json
import re
import sys

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from gateway.http import ROUTES

ERROR_DESCRIPTIONS = {
    400: "Malformed request (the body is not JSON)",
    401: "No credentials",
    403: "The credentials do not grant access",
    404: "Unknown object",
    409: "Conflict with the current state (slot taken, wrong state)",
    413: "Body too large",
    422: "Invalid fields: `details` names each field and the rule it breaks",
    429: "Too many requests from this client (RateLimit-* headers, wait Retry-After seconds), "
         "or too many of a kind held at once (too_many_holds: unpaid bookings; "
         "too_many_streams: live streams of one booking; failed sign-ins: `details.retry_after`)",
    503: "A service behind the gateway did not answer in time; after Retry-After seconds "
         "a GET, or a request with its same Idempotency-Key, is safe to send again "
         "(`details.retry_safe`). For a live stream: this gateway process holds as many as "
         "it may",
}


RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "requests allowed in the window",
    "RateLimit-Remaining": "requests left in the window",
    "RateLimit-Reset": "seconds until the window starts again",
}


# One Server-Sent Event as a client parses it; `data` is JSON text (the booking for `state`,
# the event's {type, occurred_at, payload} otherwise).
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
    "retry": {"type": "integer"}}}


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "machine-readable code"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


def _openapi_path(werkzeug_path):
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", werkzeug_path)


def _schema_name(schema):
    schema_cls = schema if isinstance(schema, type) else type(schema)
    name = schema_cls.__name__
    return name[:-6] if name.endswith("Schema") else name


def build_spec(title="Studio booking API", version="1.0.0"):
    spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)])
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("admin", {"type": "http", "scheme": "bearer",
                                              "description": "the operator's ADMIN_TOKEN"})
    spec.components.security_scheme("session", {
        "type": "apiKey", "in": "cookie", "name": "studio_session",
        "description": "an operator's dashboard session (POST /api/admin/session); changes "
                       "also need its csrf_token in the X-CSRF-Token header"})
    spec.components.security_scheme("booking", {"type": "http", "scheme": "bearer",
                                                "description": "a booking's access token"})
    operations = {}
    for route in ROUTES:
        path = _openapi_path(route.path)
        for method in route.method.lower().split(","):
            operations.setdefault(path, {})[method] = _operation(route, path)
    for path, ops in sorted(operations.items()):
        spec.path(path=path, operations=ops)
    return spec.to_dict()


def _operation(route, path):
    op = {"summary": route.summary, "tags": [route.tag], "responses": {}}
    params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{([a-z_]+)}", path)]
    if route.query is not None:
        params.append({"in": "query", "schema": route.query})
    if route.idempotency_key:
        params.append({"in": "header", "name": "Idempotency-Key", "required": False,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                       "description": "a repeat with the same key and body answers the "
                                      "first time's answer and does nothing again; the same "
                                      "key with another body is 409 idempotency_key_reused"})
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": not route.optional_body,
                             "content": {"application/json": {"schema": route.body}}}
    if route.response is not None:
        schema = {"type": "array", "items": route.response} if route.many else route.response
        op["responses"][str(route.status)] = {
            "description": "OK", "content": {route.content_type: {"schema": schema}}}
    elif route.content_type == "text/event-stream":
        op["responses"][str(route.status)] = {
            "description": "OK: a stream of events", "content": {route.content_type: {
                "schema": SSE_EVENT}}}
    elif route.content_type != "application/json":
        op["responses"][str(route.status)] = {
            "description": "OK", "content": {route.content_type: {"schema": {"type": "string"}}}}
    else:
        op["responses"][str(route.status)] = {"description": "OK"}
    codes = set(route.errors)
    if route.body is not None:
        codes |= {400, 413, 422}
    if route.query is not None:
        codes.add(422)
    if route.auth:
        codes |= {401, 403}
        op["security"] = ([{"admin": []}, {"session": []}] if route.auth == "admin"
                          else [{"booking": []}, {"admin": []}, {"session": []}])
        if route.role:
            op["description"] = f"Needs an operator with the {route.role} role or above."
    if route.rate_limit:
        codes.add(429)
    codes.add(503)
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": "Error"}}}
    if route.rate_limit:
        headers = {name: {"description": text, "schema": {"type": "integer"}}
                   for name, text in RATE_LIMIT_HEADERS.items()}
        op["responses"][str(route.status)]["headers"] = headers
        op["responses"]["429"]["headers"] = {**headers, "Retry-After": {
            "description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
    return op


def render():
    """The document as committed in docs/openapi.json."""
    import gateway.service  # noqa: F401  (declares every route)
    return json.dumps(build_spec(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
