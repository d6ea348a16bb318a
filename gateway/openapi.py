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
    503: "A service behind the gateway did not answer in time",
}


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
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": not route.optional_body,
                             "content": {"application/json": {"schema": route.body}}}
    if route.response is not None:
        schema = {"type": "array", "items": route.response} if route.many else route.response
        op["responses"][str(route.status)] = {
            "description": "OK", "content": {route.content_type: {"schema": schema}}}
    else:
        op["responses"][str(route.status)] = {"description": "OK"}
    codes = set(route.errors)
    if route.body is not None:
        codes |= {400, 413, 422}
    if route.query is not None:
        codes.add(422)
    if route.auth:
        codes |= {401, 403}
        op["security"] = [{"admin": []}] if route.auth == "admin" else [{"booking": []},
                                                                         {"admin": []}]
    codes.add(503)
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": "Error"}}}
    return op


def render():
    """The document as committed in docs/openapi.json."""
    import gateway.service  # noqa: F401  (declares every route)
    return json.dumps(build_spec(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
