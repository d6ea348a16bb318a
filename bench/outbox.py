"""The outbox path alone: an RPC commits a row with its event (the outbox), the relay publishes
it, and a consumer handles it through the inbox. A small service of its own, in its own
process, does both ends, so the figure is the reliability core and nothing else.

Per event: its outbox row's created_at (the committing transaction) to its inbox row's
handled_at, both PostgreSQL's clock. Throughput: events handled per second while `clients`
threads keep committing.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import yaml
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.orm import DeclarativeBase

from bench.harness import summary
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer, on_event
from services.common.migrate import drop_database, ensure_database
from services.common.outbox import OutboxRelay, record_event
from services.common.rpc import Pingable, rpc
from services.common.tables import create_reliability_tables

NAME = "outbox_bench"


class Base(DeclarativeBase):
    metadata = MetaData()


class OutboxBenchService(Pingable, ReliableConsumer):
    name = NAME
    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()

    @rpc
    def make_thing(self, n):
        with self.db.get_session() as session:
            record_event(session, NAME, "thing.made", {"n": n})

    @on_event(NAME, "thing.made")
    def thing_made(self, session, event):
        """Nothing to do: the inbox row it leaves (handled_at) is what is measured."""


def measure(bench, scale=1.0):
    from scripts.system import System
    uri = bench.uris["booking"].rsplit("_", 1)[0] + "_" + NAME
    ensure_database(uri)
    engine = create_engine(uri)
    with engine.begin() as conn:
        create_reliability_tables(conn)
    config_path = os.path.join(bench.log_dir, f"{NAME}.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump({**bench.config,
                        "DB_URIS": {**bench.config["DB_URIS"], f"{NAME}:Base": uri}}, f)
    system = System(config=config_path, log_dir=bench.log_dir,
                    services={NAME: "bench.outbox:OutboxBenchService"})
    system.start_all()
    try:
        _wait_for_ping(bench)
        _run(bench, engine, clients=4, count=max(20, int(100 * scale)))  # warm-up
        return [_run(bench, engine, clients, max(20, int(count * scale)))
                for clients, count in ((1, 300), (8, 1000), (32, 2000))]
    finally:
        system.stop_all()
        engine.dispose()
        drop_database(uri)


def _wait_for_ping(bench, seconds=60):
    deadline = time.monotonic() + seconds
    with ClusterRpcProxy(bench.rpc_config, timeout=5) as proxy:
        while True:
            try:
                return getattr(proxy, NAME).ping()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _run(bench, engine, clients, count):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox, inbox"))
    per_client = [count // clients + (i < count % clients) for i in range(clients)]

    def commit_events(n):
        with ClusterRpcProxy(bench.rpc_config, timeout=30) as proxy:
            for i in range(n):
                getattr(proxy, NAME).make_thing(i)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(commit_events, per_client))
    deadline = time.monotonic() + 120
    with engine.connect() as conn:
        while conn.execute(text("SELECT count(*) FROM inbox WHERE status = 'done'")).scalar() \
                < count and time.monotonic() < deadline:
            time.sleep(0.2)
        rows = conn.execute(text(
            "SELECT o.created_at, i.handled_at FROM outbox o "
            "JOIN inbox i ON i.event_id = o.event_id AND i.status = 'done'")).all()
    lags = [(handled - created).total_seconds() * 1000 for created, handled in rows]
    span = (max(h for _, h in rows) - min(c for c, _ in rows)).total_seconds()
    return {"clients": clients, "events": count, "handled": len(rows),
            "per_second": round(len(rows) / span, 1), "latency_ms": summary(lags)}
