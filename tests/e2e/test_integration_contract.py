"""The events are a public contract: docs/asyncapi.json is what the marshmallow contracts
generate, the integration service listens to every event in it, and the messages the running
system really publishes match it."""
import json
import re
import uuid

from marshmallow import ValidationError

from contracts import asyncapi
from contracts.events import EventEnvelopeSchema
from contracts.events_catalog import BY_TYPE, CATALOG
from services.integration.service import IntegrationService
from tests.amqp import EventWatcher, wait_until
from tests.integration.integration_flow import MockProviderPayer, book, hour_slots, make_hall


def test_the_asyncapi_document_names_every_event_with_its_exchange():
    document = asyncapi.build_document()
    assert document["asyncapi"] == "2.6.0"
    assert set(document["channels"]) == set(BY_TYPE)
    for event in CATALOG:
        binding = document["channels"][event.type]["bindings"]["amqp"]
        assert binding["exchange"] == {"name": f"{event.source}.events", "type": "topic",
                                       "durable": True, "autoDelete": False, "vhost": "/"}
        message = document["components"]["messages"][event.type]
        assert message["payload"]["properties"]["type"]["const"] == event.type


def test_the_integration_service_consumes_every_published_event():
    consumed = set()
    for name in dir(IntegrationService):
        for entrypoint in getattr(getattr(IntegrationService, name), "nameko_entrypoints", ()):
            if hasattr(entrypoint, "event_type"):
                consumed.add((entrypoint.source_service, entrypoint.event_type))
            consumed.update(getattr(entrypoint, "subscriptions", ()))
    # its own events (webhook.*) go into its log when it makes them
    assert consumed == {(event.source, event.type) for event in CATALOG
                        if event.source != "integration"}


# --- real messages against the document -----------------------------------------------------

def validate(schema, value, document, path="$"):
    """The part of JSON Schema the generated document uses: type (with null), const, enum,
    required, properties, items, pattern, minimum, $ref. Returns a list of problems."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return validate(document["components"]["schemas"][name], value, document, path)
    problems = []
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(_is_type(value, t) for t in types):
            return [f"{path}: {value!r} is not {types}"]
    if value is None:
        return []
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: {value!r} is below {schema['minimum']}")
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                problems.append(f"{path}.{name}: missing")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems += validate(sub, value[name], document, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(schema["items"], item, document, f"{path}[{i}]")
    return problems


def _is_type(value, name):
    return {"string": isinstance(value, str), "null": value is None,
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool), "object": isinstance(value, dict),
            "array": isinstance(value, list)}[name]


def contract_problems(message, document):
    """Why a message captured from RabbitMQ breaks the contract (empty when it keeps it).

    marshmallow (the contracts themselves, strict: a field the contract does not name is a
    problem, since a producer must document what it publishes) and the AsyncAPI document."""
    body, routing_key = message["body"], message["routing_key"]
    event = BY_TYPE.get(routing_key)
    if event is None:
        return [f"{routing_key} is not in the events catalog"]
    problems = []
    try:
        envelope = EventEnvelopeSchema().load(body)
        event.payload().load(envelope["payload"])
    except ValidationError as exc:
        problems.append(f"marshmallow: {exc.messages}")
    if body.get("type") != routing_key:
        problems.append(f"routing key {routing_key} but type {body.get('type')}")
    schema = document["components"]["messages"][routing_key]["payload"]
    problems += validate(schema, body, document)
    return problems


def test_real_messages_of_a_booking_life_keep_the_published_contract(api, operator, config):
    watchers = {source: EventWatcher(config["AMQP_URI"], f"{source}.events")
                for source in ("booking", "payments", "notifications")}
    try:
        hall = make_hall(operator)
        slots = hour_slots(3, weeks_ahead=10)
        paid, at_desk, dropped = (book(api, hall, *slot, n=n) for n, slot in enumerate(slots))
        expected = {"booking.created", "booking.confirmed", "booking.cancelled"}
        MockProviderPayer(api).start(paid, kind="prepayment")
        expected |= {"payment.succeeded", "payment.refunded"}
        assert api.post(f"/api/bookings/{at_desk['id']}/confirm", admin=True,
                        json={"amount": 1000}).status_code == 200
        assert api.post(f"/api/bookings/{at_desk['id']}/confirm", admin=True,
                        json={}).status_code == 200   # the remainder: payment_recorded
        expected.add("booking.payment_recorded")
        assert wait_until(lambda: _confirmed(operator, paid["id"]), 30)
        assert api.delete(f"/api/bookings/{paid['id']}", admin=True).status_code == 200
        assert api.delete(f"/api/bookings/{dropped['id']}",
                          token=dropped["access_token"]).status_code == 200
        mine = {paid["id"], at_desk["id"], dropped["id"]}

        def seen_types():
            messages = [m for w in watchers.values() for m in w.collect(0.3)
                        if m["body"].get("payload", {}).get("booking_id") in mine]
            return {m["routing_key"] for m in messages} >= expected

        wait_until(seen_types, 30, 0.2)
        messages = [m for w in watchers.values() for m in w.seen
                    if m["body"].get("payload", {}).get("booking_id") in mine]
    finally:
        for watcher in watchers.values():
            watcher.close()
    document = json.loads(asyncapi.render())
    seen = {m["routing_key"] for m in messages}
    print(f"contract check: expected event types {sorted(expected)}, seen {sorted(seen)} "
          f"in {len(messages)} messages")
    assert expected <= seen
    problems = {m["body"]["event_id"]: (m["routing_key"], contract_problems(m, document))
                for m in messages}
    assert {k: v for k, v in problems.items() if v[1]} == {}


def _confirmed(operator, booking_id):
    return operator.booking.get_booking(booking_id)["status"] == "confirmed"


def test_the_validator_catches_a_broken_message():
    document = asyncapi.build_document()
    envelope = {"event_id": str(uuid.uuid4()), "type": "booking.confirmed", "version": 1,
                "occurred_at": "2030-01-01T10:00:00+00:00", "source": "booking",
                "payload": {"booking_id": "b", "hall_id": "one"}}
    problems = contract_problems({"routing_key": "booking.confirmed", "body": envelope},
                                 document)
    assert any("hall_id" in p and "integer" in p for p in problems)
    assert any("price_total: missing" in p for p in problems)
    assert any(p.startswith("marshmallow") for p in problems)
