"""EVENT_QUEUE_TYPE=quorum: the services declare their durable event queues as quorum queues
(replicated in a RabbitMQ cluster), and events flow through them as through classic ones."""
import pytest

from scripts.system import rabbitmqctl
from tests.amqp import rpc_client, wait_until
from tests.conftest import Api
from tests.integration.integration_flow import MockProviderPayer, book, hour_slots, make_hall


@pytest.fixture
def own_env():
    return {"EVENT_QUEUE_TYPE": "quorum"}


def queue_types(vhost):
    lines = rabbitmqctl("list_queues", "-p", vhost, "name", "type").splitlines()
    return dict(line.split("\t")[:2] for line in lines if "\t" in line)


def test_event_queues_are_quorum_and_a_paid_booking_flows_through_them(own_world):
    config, system, _ = own_world
    vhost = config["AMQP_URI"].rsplit("/", 1)[-1]
    system.start_all()
    try:
        system.wait_healthy(timeout=90)
        types = queue_types(vhost)
        durable_event_queues = {name: kind for name, kind in types.items()
                                if name.startswith("evt-") and "gateway" not in name}
        assert durable_event_queues and set(durable_event_queues.values()) == {"quorum"}, types
        # RPC queues and the gateway's live (exclusive, auto-delete) queues stay classic
        assert types["rpc-booking"] == "classic"
        api = Api(system.base_url)
        with rpc_client(config["AMQP_URI"]) as rpc:
            booking = book(api, make_hall(rpc), *next(hour_slots(1)))
            MockProviderPayer(api).start(booking)
            wait_until(lambda: rpc.booking.get_booking(booking["id"])["status"] == "confirmed",
                       30)
            wait_until(lambda: {"booking.created", "payment.succeeded", "booking.confirmed"} <= {
                e["type"] for e in rpc.integration.booking_chain(booking["id"])["items"]}, 30)
    finally:
        system.stop_all()
