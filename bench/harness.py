"""What every benchmark needs: the whole system started as separate `nameko run` processes in a
vhost and databases of its own (dropped after), an HTTP client, and percentiles."""
import contextlib
import logging
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta

import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bench import cpu
from scripts.system import LOAD_TEST_LIMITS, System, free_port, rabbitmqctl
from services.common.config import db_uri, load_config
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, upgrade

ADMIN_TOKEN = "bench-admin-token"
# "Received method (60, 80) during closing channel": a late confirm to a closing RPC proxy of
# this process, harmless (config.yaml quiets the same line in the services)
logging.getLogger("amqp").setLevel(logging.ERROR)


class Client:
    """requests with one keep-alive session per thread."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.local = threading.local()

    def request(self, method, path, token=None, **kwargs):
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return session.request(method, self.base_url + path, headers=headers, timeout=30,
                               **kwargs)


@dataclass
class Bench:
    config: dict
    uris: dict          # service -> database URI
    client: Client
    log_dir: str
    system: System
    vhost: str

    def cpu_snapshot(self):
        """CPU used so far by each process of the system, RabbitMQ, PostgreSQL, the machine."""
        return cpu.snapshot({name: process.pid for name, process in self.system.processes.items()},
                            os.environ["DB_PREFIX"])

    def cpu_per_operation(self, work, quiet_seconds=3.0):
        """Wait for quiet, measure the idle system for `quiet_seconds`, run `work()` (it
        returns how many operations it did), wait until every event it caused is handled.
        Returns (its result, CPU ms per operation of each process, the same net of what each
        spends idle over that time)."""
        settle(self)
        idle_from = self.cpu_snapshot()
        time.sleep(quiet_seconds)
        before = self.cpu_snapshot()
        result = work()
        settle(self)
        after = self.cpu_snapshot()
        operations = max(1, result["requests"] if isinstance(result, dict) else result)
        return (result, cpu.per_operation(before, after, operations),
                cpu.per_operation(before, after, operations, idle=(idle_from, before)))

    @property
    def rpc_config(self):
        return {"AMQP_URI": self.config["AMQP_URI"]}


@contextlib.contextmanager
def isolated_system(name):
    """Start the system in its own vhost `bench_<name>_<pid>` and databases; stop and drop it
    all on the way out. Sets the environment first: config.yaml reads it when loaded."""
    run = f"bench_{name}_{os.getpid()}"
    address = f"127.0.0.1:{free_port()}"
    os.environ.update({
        "DB_PREFIX": f"studio_{run}", "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{run}",
        "WEB_SERVER_ADDRESS": address, "PUBLIC_URL": f"http://{address}",
        "ADMIN_TOKEN": ADMIN_TOKEN, "PAYMENT_ENV": "mock", "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_KEY_PREFIX": f"studio_{run}", **LOAD_TEST_LIMITS,
        # PostgreSQL's connections are shared with everyone's tests: 5 per service is plenty
        # on two cores, and a run that takes more gets "too many clients"
        "DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "0",
    })
    config = load_config()
    uris = {service: db_uri(config, service) for service in SERVICES_WITH_DATABASE}
    rabbitmqctl("add_vhost", run)
    rabbitmqctl("set_permissions", "-p", run, "guest", ".*", ".*", ".*")
    system = None
    try:
        for service, uri in uris.items():
            upgrade(service, uri)
        log_dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        system = System(log_dir=log_dir)
        system.start_all()
        system.wait_healthy(timeout=90)
        yield Bench(config, uris, Client(system.base_url), log_dir, system, run)
    finally:
        if system:
            system.stop_all()
        for uri in uris.values():
            drop_database(uri)
        rabbitmqctl("delete_vhost", run)


def settle(bench, timeout=300):
    """Wait until the system has caught up with what the last benchmark sent: every outbox
    published and every queue of the vhost empty. Measured on top of a backlog, a benchmark
    would measure the backlog."""
    deadline = time.monotonic() + timeout
    engines = [create_engine(uri) for uri in bench.uris.values()]
    try:
        quiet = 0
        while quiet < 2:  # twice in a row: a handler may be between two events
            if time.monotonic() > deadline:
                raise RuntimeError(f"the system did not settle within {timeout} s")
            time.sleep(0.5)
            unpublished = 0
            try:
                for engine in engines:
                    with engine.connect() as conn:
                        unpublished += conn.execute(text(
                            "SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar()
            except OperationalError as exc:  # the shared server is full for a moment
                print(f"settle: {exc.orig}".strip(), flush=True)
                quiet = 0
                continue
            queued = sum(int(ready) + int(unacked) for _, ready, unacked in (
                line.split() for line in rabbitmqctl(
                    "list_queues", "-p", bench.vhost, "--no-table-headers",
                    "name", "messages_ready", "messages_unacknowledged").splitlines()
                if line.strip()))
            quiet = quiet + 1 if unpublished == 0 and queued == 0 else 0
    finally:
        for engine in engines:
            engine.dispose()


def create_hall(bench, name):
    with ClusterRpcProxy(bench.rpc_config, timeout=30) as rpc:
        return rpc.booking.create_hall({
            "name": name, "capacity": 6, "buffer_minutes": 0,
            "tariff": {"hourly_price": 240000, "rules": []}})


def hour_slots(count, weeks_ahead=3):
    """`count` one-hour bookings that never overlap: 09:00-22:00 day after day."""
    first = date.today() + timedelta(weeks=weeks_ahead)
    for n in range(count):
        day, hour = first + timedelta(days=n // 13), 9 + n % 13
        yield f"{day}T{hour:02d}:00", f"{day}T{hour + 1:02d}:00"


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values):
    if not values:
        return None
    return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1),
            "max": round(max(values), 1)}
