"""Live status (Server-Sent Events from the gateway).

- latency: bookings paid at a steady rate through the mock checkout, each watched by its own
  open stream; per booking, the time from the mock webhook received by payments (PostgreSQL's
  clock, `provider_notifications.received_at`) to `booking.confirmed` (and `payment.succeeded`)
  read by the stream's client (this machine's clock: the same clock).
- idle streams: how many open, idle streams one gateway process holds, and its RSS before and
  after (kB per stream).

    from bench import live
    figures = live.run(bench)          # bench: bench.harness.isolated_system(...)
"""
import os
import socket
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import create_engine

from bench.flow import lag_rows, pay, pending_payments
from bench.harness import ADMIN_TOKEN, create_hall, hour_slots, summary

WATCHED = ("payment.succeeded", "booking.confirmed")


def run(bench, bookings=200, rate=20.0, idle_streams=2000):
    """Both figures; `bench` is a running isolated system (bench.harness)."""
    return {"latency": measure_latency(bench, bookings, rate),
            "idle": measure_idle_streams(bench, idle_streams)}


class Watcher:
    """One open stream of one booking, noting when each watched event arrives."""

    def __init__(self, base_url, booking_id):
        self.booking_id = booking_id
        self.arrived = {}
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.sendall(request(booking_id, host))
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        buffer = b""
        try:
            while not all(name in self.arrived for name in WATCHED):
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                for name in WATCHED:
                    if name not in self.arrived and f"event: {name}\n".encode() in buffer:
                        self.arrived[name] = datetime.now(timezone.utc)
        except OSError:
            return

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def request(booking_id, host):
    return (f"GET /api/bookings/{booking_id}/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()


def measure_latency(bench, count, rate):
    pairs = pending_payments(bench, count, "Bench live hall")
    watchers = {booking_id: Watcher(bench.client.base_url, booking_id)
                for booking_id, _ in pairs}
    time.sleep(1)   # every stream open and past its state
    print(f"{count} streams open; paying {rate:g}/s ...", flush=True)
    offered, late = pay(bench, pairs, clients=16, rate=rate)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            "booking.confirmed" in w.arrived for w in watchers.values()):
        time.sleep(0.2)
    engines = {name: create_engine(uri) for name, uri in bench.uris.items()}
    try:
        rows = lag_rows(engines, pairs)
    finally:
        for engine in engines.values():
            engine.dispose()
    for watcher in watchers.values():
        watcher.close()

    def lag(event):
        return [(watchers[b].arrived[event] - row["webhook"]).total_seconds() * 1000
                for b, row in rows.items() if row["webhook"] and event in watchers[b].arrived]

    return {"bookings": count, "rate_per_second": rate, "offered_seconds": round(offered, 2),
            "late_sends": late, "confirmed_seen": len(lag("booking.confirmed")),
            "webhook_to_payment_succeeded_at_client_ms": summary(lag("payment.succeeded")),
            "webhook_to_booking_confirmed_at_client_ms": summary(lag("booking.confirmed"))}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure_idle_streams(bench, count, per_booking=8):
    """Open `count` streams to the one gateway process (caps allow `per_booking` per
    booking), each read past its state, and hold them."""
    gateway = bench.system.processes["gateway"].pid
    hall = create_hall(bench, "Bench idle streams hall")
    bookings = []
    for start, end in hour_slots(-(-count // per_booking), weeks_ahead=8):
        bookings.append(bench.client.request("POST", "/api/bookings", json={
            "hall_id": hall["id"], "start": start, "end": end,
            "customer": {"name": "Bench", "phone": "+7 903 000-00-00"}}).json()["id"])
    host, port = bench.client.base_url.removeprefix("http://").split(":")
    rss_before = rss_kb(gateway)
    streams, refused = [], 0
    started = time.monotonic()
    for n in range(count):
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(request(bookings[n // per_booking], host))
        head = b""
        while b"event: state" not in head and len(head) < 65536:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
        if b" 200 " in head.split(b"\r\n", 1)[0]:
            streams.append(sock)
        else:
            refused += 1
            sock.close()
    opened_seconds = time.monotonic() - started
    time.sleep(2)
    rss_after = rss_kb(gateway)
    alive = bench.client.request("GET", "/api/halls").status_code == 200
    for sock in streams:
        sock.close()
    return {"streams_held": len(streams), "refused": refused,
            "open_seconds": round(opened_seconds, 1), "api_answers_meanwhile": alive,
            "gateway_rss_mb_before": round(rss_before / 1024, 1),
            "gateway_rss_mb_after": round(rss_after / 1024, 1),
            "kb_per_stream": round((rss_after - rss_before) / max(1, len(streams)), 1),
            "fd_limit": os.sysconf("SC_OPEN_MAX")}


if __name__ == "__main__":   # python -m bench.live: this benchmark alone, printed
    import json

    from bench.harness import isolated_system

    with isolated_system("live") as running:
        print(json.dumps(run(running), indent=2))
