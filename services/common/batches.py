"""A nameko entrypoint that takes events in batches: one queue bound to several event types,
prefetch N, the deliveries that arrive together (up to N, gathered for a few milliseconds at
most) handed to one worker, and acknowledged together once it returns.

    @batched_event_handler([("booking", "booking.created"), ("payments", "payment.failed")])
    def handle(self, envelopes): ...

Use it through `services.common.inbox.on_event_batches`, which adds the inbox. It has its own
AMQP connection and consumer loop (nameko's shared QueueConsumer hands out one message per
worker); batches of one queue run one after another, and a lost connection is opened again,
the broker having redelivered every unacknowledged message.
"""
import logging
import socket
import time

from eventlet.event import Event
from kombu import Connection, Consumer, Queue, binding
from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_HEARTBEAT, HEARTBEAT_CONFIG_KEY
from nameko.events import EventHandler
from nameko.extensions import Entrypoint
from nameko.standalone.events import get_event_exchange

from services.common.loops import run_rounds

log = logging.getLogger(__name__)


def event_queue_arguments(config):
    """The declare arguments of the durable event queues: RELIABILITY.event_queue_type
    `quorum` makes them quorum queues (replicated across a RabbitMQ cluster; a policy cannot
    change the type of a queue, only its declaration can). `classic` (the default) declares
    them as before. Changing it needs the queues drained and deleted first (docs/OPERATIONS.md)."""
    kind = str((config.get("RELIABILITY") or {}).get("event_queue_type") or "classic")
    if kind not in ("classic", "quorum"):
        raise ValueError(f"RELIABILITY.event_queue_type is classic or quorum, got {kind!r}")
    return {"x-queue-type": "quorum"} if kind == "quorum" else {}


class ReliableEventHandler(EventHandler):
    """nameko's event handler whose durable queue is declared with event_queue_arguments."""

    def setup(self):
        super().setup()
        self.queue.queue_arguments = event_queue_arguments(self.container.config)


class BatchedEventHandler(Entrypoint):
    def __init__(self, subscriptions, **kwargs):
        self.subscriptions = tuple(subscriptions)   # (source service, event type) pairs
        super().__init__(**kwargs)

    def setup(self):
        config = self.container.config
        settings = config["RELIABILITY"]
        self.batch_size = max(1, int(settings.get("consumer_batch_size") or 1))
        self.gather_seconds = float(settings.get("consumer_gather_ms") or 5) / 1000
        self.amqp_uri = config[AMQP_URI_CONFIG_KEY]
        self.heartbeat = config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT)
        self.queue = Queue(
            f"evt-batch--{self.container.service_name}.{self.method_name}", durable=True,
            queue_arguments=event_queue_arguments(config),
            bindings=[binding(get_event_exchange(source, config), routing_key=event_type)
                      for source, event_type in self.subscriptions])
        self._running = False
        self._thread = None

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._consume_forever)

    def stop(self):
        self._running = False
        if self._thread is not None:
            self._thread.wait()

    def kill(self):
        self._running = False
        if self._thread is not None:
            self._thread.kill()

    def _consume_forever(self):
        # a failure: the broker is away, and its unacked messages come back
        run_rounds(self._consume, self.queue.name, running=lambda: self._running)

    def _consume(self):
        pending = []
        with Connection(self.amqp_uri, heartbeat=self.heartbeat) as connection:
            channel = connection.channel()
            for exchange in {b.exchange.name: b.exchange for b in self.queue.bindings}.values():
                exchange(channel).declare()
            queue = self.queue(channel)
            queue.declare()
            with Consumer(channel, [queue], callbacks=[lambda body, message: pending.append(
                    message)], accept=["json"], prefetch_count=self.batch_size):
                while self._running:
                    if not self._wait(connection, 1.0):
                        connection.heartbeat_check()
                        continue
                    deadline = time.monotonic() + self.gather_seconds
                    while len(pending) < self.batch_size:
                        left = deadline - time.monotonic()
                        if left <= 0 or not self._wait(connection, left):
                            break
                    batch, pending[:] = list(pending), []
                    self._handle(batch)

    @staticmethod
    def _wait(connection, seconds):
        """Take the next delivery (or heartbeat); False if none came within `seconds`."""
        try:
            connection.drain_events(timeout=seconds)
            return True
        except socket.timeout:
            return False

    def _handle(self, messages):
        done = Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send(exc_info)
            return result, exc_info

        self.container.spawn_worker(self, ([message.payload for message in messages],), {},
                                    handle_result=handle_result)
        failure = done.wait()
        if failure is None:
            messages[-1].ack(multiple=True)  # the whole batch, in one frame
            return
        # The inbox could not record them (the database is away): back to the queue.
        log.warning("%s: %d events go back to the queue: %r", self.queue.name, len(messages),
                    failure[1])
        for message in messages:
            message.requeue()


batched_event_handler = BatchedEventHandler.decorator
