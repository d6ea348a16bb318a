"""The AsyncAPI 2.6 document of every event, generated from the marshmallow contracts.

    python -m contracts.asyncapi > docs/asyncapi.json

The envelope comes from contracts.events, each payload from its service's contract, the list of
events from contracts.events_catalog. A test keeps docs/asyncapi.json equal to this output.

Published payloads may gain fields in a later minor release, so the document leaves
`additionalProperties` open: a consumer must ignore fields it does not know.
"""
import copy
import json
import sys

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from contracts.events import EventEnvelopeSchema
from contracts.events_catalog import CATALOG, SOURCES, exchange_of

ASYNCAPI_VERSION = "2.6.0"
DOCUMENT_VERSION = "1.0.0"
AMQP_BINDING_VERSION = "0.2.0"

DESCRIPTION = """\
Every service of the studio publishes the facts of its life as events to its own durable topic
exchange `<service>.events` (booking.events, payments.events, notifications.events) on the
studio's RabbitMQ. The routing key is the event type (`booking.confirmed`). Every message is the
same JSON envelope (event_id, type, version, occurred_at, source, payload); the payload's
schema depends on the type.

Delivery is at least once: a consumer keeps the event_ids it has handled and skips repeats.
Fields are only ever added to a version of an event; a change that would break a reader becomes
a new `version` of the event type. Ignore fields you do not know.

To listen, declare your own durable queue and bind it to the exchange with the routing keys
you want (`booking.*`, `payment.succeeded`, `#`). See docs/events.md."""


def _schema_name(schema):
    schema_cls = schema if isinstance(schema, type) else type(schema)
    name = schema_cls.__name__
    return name[:-6] if name.endswith("Schema") else name


def _open(schema):
    """Drop marshmallow's `additionalProperties: false`, everywhere in a JSON schema: the
    contract lets producers add fields."""
    if isinstance(schema, dict):
        return {key: _open(value) for key, value in schema.items()
                if not (key == "additionalProperties" and value is False)}
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    return schema


def component_schemas():
    """JSON schemas (draft 7 style, as AsyncAPI 2.6 takes them) of the envelope and of every
    payload, nested schemas included, keyed by name."""
    spec = APISpec(title="studio events", version=DOCUMENT_VERSION, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)])
    spec.components.schema("EventEnvelope", schema=EventEnvelopeSchema)
    for payload in dict.fromkeys(event.payload for event in CATALOG):
        spec.components.schema(_schema_name(payload), schema=payload)
    return _open(spec.to_dict()["components"]["schemas"])


def _message(event, envelope):
    schema = copy.deepcopy(envelope)
    properties = schema["properties"]
    properties["type"] = {"type": "string", "const": event.type}
    properties["version"] = {"type": "integer", "const": event.version}
    properties["source"] = {"type": "string", "const": event.source}
    properties["payload"] = {"$ref": f"#/components/schemas/{_schema_name(event.payload)}"}
    return {
        "name": event.type,
        "title": f"{event.type} v{event.version}",
        "summary": event.summary,
        "contentType": "application/json",
        "payload": schema,
        "bindings": {"amqp": {"messageType": event.type,
                              "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _channel(event):
    return {
        "description": f"Routing key `{event.type}` on the exchange `{event.exchange}`. "
                       + event.summary,
        "bindings": {"amqp": {
            "is": "routingKey",
            "exchange": {"name": event.exchange, "type": "topic", "durable": True,
                         "autoDelete": False, "vhost": "/"},
            "bindingVersion": AMQP_BINDING_VERSION}},
        "subscribe": {
            "operationId": "on_" + event.type.replace(".", "_"),
            "summary": f"{event.source} publishes {event.type}; bind your queue to receive it",
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}},
            "message": {"$ref": f"#/components/messages/{event.type}"},
        },
    }


def build_document():
    schemas = component_schemas()
    envelope = schemas["EventEnvelope"]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:studio-booking:events",
        "info": {"title": "Studio booking platform events", "version": DOCUMENT_VERSION,
                 "description": DESCRIPTION},
        "servers": {"rabbitmq": {
            "url": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
            "description": "The studio's RabbitMQ (the address is the deployment's; the "
                           "vhost is /). Exchanges: "
                           + ", ".join(exchange_of(source) for source in SOURCES)}},
        "defaultContentType": "application/json",
        "channels": {event.type: _channel(event) for event in CATALOG},
        "components": {
            "messages": {event.type: _message(event, envelope) for event in CATALOG},
            "schemas": schemas,
        },
    }


def render():
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
