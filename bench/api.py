"""The gateway under load: each figure is a fixed number of HTTP requests from N client threads
against the whole system (every service its own process), latency per request and requests/s.

- bare path: GET /health/booking (HTTP -> gateway -> RPC `ping` to booking -> back);
- halls: GET /api/halls (the same plus one SELECT);
- availability: GET /api/bookings/availability for a 31-day month of one hall (free slots with
  their prices, ~1600 slots);
- create booking: POST /api/bookings, non-overlapping one-hour bookings (validation, the
  exclusion constraint, the outbox row and its event), at 1, 8 and 32 clients.
"""
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from bench.harness import create_hall, hour_slots, summary


def load(client_count, requests, send):
    """Run `send(i)` for i in range(requests) on `client_count` threads; every call must
    return the expected status. Returns latency percentiles (ms) and requests per second."""
    latencies = []

    def timed(i):
        started = time.perf_counter()
        send(i)
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(client_count) as pool:
        list(pool.map(timed, range(requests)))
    elapsed = time.perf_counter() - started
    return {"clients": client_count, "requests": requests,
            "per_second": round(requests / elapsed, 1), "latency_ms": summary(latencies)}


def expect(answer, status):
    assert answer.status_code == status, (answer.status_code, answer.text[:300])


def measure(bench, scale=1.0):
    client = bench.client
    n = lambda count: max(10, int(count * scale))  # noqa: E731  (smaller runs for a smoke test)
    results = {}

    def bare(_):
        expect(client.request("GET", "/health/booking"), 200)

    def halls(_):
        expect(client.request("GET", "/api/halls"), 200)

    load(4, n(200), bare)  # warm-up: connections, worker pools
    results["bare_rpc"] = [load(clients, n(count), bare)
                           for clients, count in ((1, 300), (8, 1500), (32, 3000))]
    results["halls"] = [load(clients, n(count), halls)
                        for clients, count in ((1, 300), (32, 2000))]

    hall = create_hall(bench, f"Bench hall {uuid.uuid4()}")
    first = date.today() + timedelta(days=30)
    month = {"hall_id": hall["id"], "start_date": str(first),
             "end_date": str(first + timedelta(days=30))}

    def availability(_):
        expect(client.request("GET", "/api/bookings/availability", params=month), 200)

    results["availability_31_days"] = [load(1, n(50), availability),
                                       load(8, n(200), availability)]

    results["create_booking"] = []
    for clients, count in ((1, n(100)), (8, n(400)), (32, n(800))):
        hall = create_hall(bench, f"Bench hall {uuid.uuid4()}")
        slots = list(hour_slots(count, weeks_ahead=1))

        def create(i):
            start, end = slots[i]
            expect(client.request("POST", "/api/bookings", json={
                "hall_id": hall["id"], "start": start, "end": end,
                "customer": {"name": f"Bench {i}", "phone": "+7 903 000-00-00"}}), 201)

        results["create_booking"].append(load(clients, count, create))
    return results
