"""The gateway under load from wrk: each figure is wrk at c clients for a fixed time against
the whole system (every service its own process): requests/s, latency percentiles, and the
CPU each process spent per request, counted after the events a request caused are handled.

- bare path: GET /health/booking (HTTP -> gateway -> RPC `ping` to booking -> back), the
  framework's floor;
- halls: GET /api/halls (the same plus one SELECT);
- availability: GET /api/bookings/availability for a 31-day month of one hall (free slots with
  their prices, ~1600 slots);
- create booking: POST /api/bookings, one-hour bookings that never overlap (bench/lua/
  bookings.lua): validation, the exclusion constraint, the outbox row, and its event handled
  by every consumer, at 1, 8 and 32 clients.
"""
import uuid
from datetime import date, timedelta
from urllib.parse import urlencode

from bench.harness import create_hall
from bench.load import wrk


def measure(bench, scale=1.0):
    base_url = bench.client.base_url
    seconds = max(3, round(10 * scale))

    def run(path, clients, **options):
        result, cpu_ms, net = bench.cpu_per_operation(
            lambda: wrk(base_url, path, clients, seconds, **options))
        return {**result, "cpu_ms": cpu_ms, "cpu_ms_net": net}

    wrk(base_url, "/health/booking", 4, 3)  # warm-up: connections, worker pools
    results = {"bare_rpc": [run("/health/booking", c) for c in (1, 8, 32)],
               "halls": [run("/api/halls", c) for c in (1, 32)]}

    hall = create_hall(bench, f"Bench hall {uuid.uuid4()}")
    first = date.today() + timedelta(days=30)
    month = urlencode({"hall_id": hall["id"], "start_date": str(first),
                       "end_date": str(first + timedelta(days=30))})
    results["availability_31_days"] = [run(f"/api/bookings/availability?{month}", c)
                                       for c in (1, 8)]

    results["create_booking"] = []
    for clients in (1, 8, 32):
        halls = [create_hall(bench, f"Bench hall {uuid.uuid4()}")["id"] for _ in range(4)]
        env = {"BENCH_HALLS": ",".join(map(str, halls)),
               "BENCH_FIRST_DAY": str(date.today() + timedelta(days=7))}
        results["create_booking"].append(run("/api/bookings", clients, script="bookings.lua",
                                              env=env))
    return results
