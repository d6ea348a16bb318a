"""Test-side AMQP clients that are not nameko: a pika event watcher and a nameko RPC client."""
import json
import time

import pika
from nameko.standalone.rpc import ClusterRpcProxy

import services.common.rpc  # noqa: F401  (a service's error comes back as its own type)


class EventWatcher:
    """An outside consumer: its own exclusive queue bound to `<service>.events`."""

    def __init__(self, amqp_uri, exchange, routing_key="#"):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, exchange, routing_key)
        self.seen = []

    def collect(self, seconds, until=None):
        """Gather messages for up to `seconds`, or until `until(self.seen)` is true."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                if until is not None and until(self.seen):
                    break
                self.connection.sleep(0.05)
                continue
            self.seen.append({"routing_key": method.routing_key,
                              "properties": properties, "body": json.loads(body)})
        return self.seen

    def close(self):
        try:
            self.connection.close()
        except Exception:
            pass


def publish_envelope(amqp_uri, exchange, envelope):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.basic_publish(exchange, envelope["type"], json.dumps(envelope),
                              pika.BasicProperties(content_type="application/json",
                                                   delivery_mode=2))
    finally:
        connection.close()


def rpc_client(amqp_uri, timeout=15):
    """`with rpc_client(uri) as rpc: rpc.booking.list_halls()`, as an operator's shell does."""
    return ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout)


def wait_until(check, seconds=20, interval=0.1):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
