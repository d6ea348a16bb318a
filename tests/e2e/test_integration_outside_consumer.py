"""An outside system listens the way docs/events.md tells it to: a plain pika client declares
its own queue, binds it to booking.events with the routing key booking.confirmed, and gets
the envelope of a real booking paid through the system."""
import json
import uuid

import pika
import pytest

from contracts.booking import BookingEventPayloadSchema
from contracts.events import EventEnvelopeSchema
from tests.integration.integration_flow import MockProviderPayer, book, hour_slots, make_hall


class OutsideConsumer:
    """What a CRM would run: its own durable queue, bound to what it wants to hear."""

    def __init__(self, amqp_uri, exchange, routing_key):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = f"crm-test-{uuid.uuid4()}"
        self.channel.queue_declare(self.queue, durable=True)
        self.channel.queue_bind(self.queue, exchange, routing_key=routing_key)

    def first(self, check, seconds=20):
        """The first message whose decoded body passes `check`, acknowledged."""
        for method, properties, body in self.channel.consume(self.queue,
                                                             inactivity_timeout=seconds):
            if method is None:
                return None
            self.channel.basic_ack(method.delivery_tag)
            message = json.loads(body)
            if check(message):
                self.channel.cancel()
                return {"routing_key": method.routing_key, "properties": properties,
                        "body": message}

    def close(self):
        try:
            self.channel.queue_delete(self.queue)
            self.connection.close()
        except Exception:
            pass


@pytest.fixture
def crm(system, config):
    consumer = OutsideConsumer(config["AMQP_URI"], "booking.events", "booking.confirmed")
    yield consumer
    consumer.close()


def _assert_confirmation_of(message, booking, amount_paid):
    assert message is not None, "no booking.confirmed reached the outside queue"
    assert message["routing_key"] == "booking.confirmed"
    assert message["properties"].content_type == "application/json"
    assert message["properties"].delivery_mode == 2, "events must be persistent"
    envelope = EventEnvelopeSchema().load(message["body"])
    assert envelope["type"] == "booking.confirmed" and envelope["source"] == "booking"
    assert envelope["version"] == 1
    payload = BookingEventPayloadSchema().load(envelope["payload"])
    assert payload["booking_id"] == booking["id"] and payload["status"] == "confirmed"
    assert payload["amount_paid"] == amount_paid
    assert payload["customer"]["phone"] == booking["customer"]["phone"]


def test_an_outside_queue_gets_the_confirmation_of_a_desk_payment(api, operator, crm):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=8)))
    answer = api.post(f"/api/bookings/{booking['id']}/confirm", admin=True,
                      json={"amount": booking["prepayment_amount"]})
    assert answer.status_code == 200, answer.text
    message = crm.first(lambda m: m["payload"]["booking_id"] == booking["id"])
    _assert_confirmation_of(message, booking, booking["prepayment_amount"])


def test_an_outside_queue_gets_the_confirmation_of_a_mock_provider_payment(api, operator, crm):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=9)))
    payment = MockProviderPayer(api).start(booking, kind="prepayment")
    message = crm.first(lambda m: m["payload"]["booking_id"] == booking["id"], seconds=30)
    _assert_confirmation_of(message, booking, payment["amount"])
