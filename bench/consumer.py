"""One consumer's capacity: integration logging events, at a batch size of 1 and of 32
(RELIABILITY.consumer_batch_size, set through CONSUMER_BATCH_SIZE and a restart).

`count` booking.completed events (integration only logs them; nobody else listens) are
published straight to booking.events from this process; the figure is events logged per
second, from the first publish to the last row in the log, and the CPU integration (and
RabbitMQ, and its PostgreSQL backends) spent per event.
"""
import time
import uuid

from kombu import Connection, Exchange, Producer
from sqlalchemy import create_engine, text

from contracts.events import make_envelope

KEYS = ("integration", "rabbitmq", "postgres", "ours", "machine")


def publish(amqp_uri, envelopes):
    exchange = Exchange("booking.events", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        producer = Producer(connection.channel(), exchange=exchange, serializer="json")
        for envelope in envelopes:
            producer.publish(envelope, routing_key=envelope["type"], delivery_mode=2,
                             message_id=envelope["event_id"])


def logged(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM event_log WHERE type = 'booking.completed'")).scalar()


def measure_one(bench, batch_size, count):
    bench.system.env["CONSUMER_BATCH_SIZE"] = str(batch_size)
    bench.system.restart("integration")
    bench.system.wait_healthy(timeout=90)
    engine = create_engine(bench.uris["integration"])
    envelopes = [make_envelope("booking", "booking.completed", {
        "booking_id": str(uuid.uuid4()), "hall_id": 1, "hall_name": "Bench",
        "start": "2026-12-01T10:00:00+03:00", "end": "2026-12-01T11:00:00+03:00",
        "status": "completed", "price_total": 240000, "prepayment_amount": 72000,
        "amount_paid": 240000, "currency": "RUB", "customer": {"name": "Bench"}})
        for _ in range(count)]
    timing = {}

    def work():
        target = logged(engine) + count
        started = time.perf_counter()
        publish(bench.config["AMQP_URI"], envelopes)
        while logged(engine) < target:
            time.sleep(0.2)
        timing["seconds"] = time.perf_counter() - started
        return count

    try:
        _, cpu_ms, net = bench.cpu_per_operation(work)
    finally:
        engine.dispose()
    return {"batch_size": batch_size, "events": count,
            "per_second": round(count / timing["seconds"], 1),
            "cpu_ms_per_event": {key: cpu_ms[key] for key in KEYS},
            "cpu_ms_per_event_net": {key: net[key] for key in KEYS}}


def measure(bench, scale=1.0):
    count = max(300, int(3000 * scale))
    try:
        return [measure_one(bench, size, count) for size in (1, 32)]
    finally:
        bench.system.env.pop("CONSUMER_BATCH_SIZE", None)
        bench.system.restart("integration")
        bench.system.wait_healthy(timeout=90)
