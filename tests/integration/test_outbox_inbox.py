"""The reliability core against real RabbitMQ and PostgreSQL, with the consumer service in its
own `nameko run` process and RabbitMQ reached through a proxy the test can cut."""
import os
import tempfile

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from contracts.events import EventEnvelopeSchema, make_envelope
from scripts.system import System
from services.common.migrate import drop_database, ensure_database
from services.common.outbox import record_event
from services.common.tables import create_reliability_tables
from tests.amqp import EventWatcher, publish_envelope, rpc_client, wait_until
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.relytest_service import SCHEMA

MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def relytest(config, vhost):
    uri = config["DB_URIS"]["booking:Base"].rsplit("_", 1)[0] + "_relytest"
    ensure_database(uri)
    engine = create_engine(uri)
    with engine.begin() as conn:
        create_reliability_tables(conn)
        conn.execute(text(SCHEMA))
    proxy = TcpProxy("127.0.0.1", 5672)
    direct_amqp = config["AMQP_URI"]
    service_config = dict(config)
    service_config["DB_URIS"] = {**config["DB_URIS"], "relytest:Base": uri}
    service_config["AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
    service_config["RELIABILITY"] = {**config["RELIABILITY"], "inbox_max_attempts": MAX_ATTEMPTS,
                                     "inbox_backoff_base_seconds": 0.2}
    workdir = tempfile.mkdtemp(prefix="relytest-")
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(service_config, f)
    system = System(config=config_path, log_dir=workdir,
                    services={"relytest": "tests.integration.relytest_service:RelyTestService"})
    watcher = EventWatcher(direct_amqp, "relytest.events")
    system.start_all()
    with rpc_client(direct_amqp) as rpc:
        assert wait_until(lambda: _pings(rpc), 30), system._log_tails(["relytest"])
    try:
        yield {"Session": sessionmaker(bind=engine), "engine": engine, "proxy": proxy,
               "watcher": watcher, "amqp": direct_amqp, "system": system}
    finally:
        system.stop_all()
        watcher.close()
        proxy.close()
        engine.dispose()
        drop_database(uri)


def _pings(rpc):
    try:
        return rpc.relytest.ping() == "pong"
    except Exception:
        return False


def _scalar(ctx, sql, **params):
    with ctx["engine"].connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _commit_events(ctx, names):
    with ctx["Session"]() as session:
        envelopes = [record_event(session, "relytest", "thing.made", {"name": n}) for n in names]
        session.commit()
    return [e["event_id"] for e in envelopes]


def _received(ctx, event_ids, seconds=15):
    wanted = set(event_ids)
    seen = ctx["watcher"].collect(
        seconds, until=lambda s: wanted <= {m["body"]["event_id"] for m in s})
    return [m for m in seen if m["body"]["event_id"] in wanted]


def test_committed_event_is_published_exactly_once_in_the_envelope(relytest):
    [event_id] = _commit_events(relytest, ["lamp"])
    got = _received(relytest, [event_id])
    relytest["watcher"].collect(1.0)  # anything more that would come, comes now
    got = [m for m in relytest["watcher"].seen if m["body"]["event_id"] == event_id]
    assert len(got) == 1
    assert got[0]["routing_key"] == "thing.made"
    envelope = EventEnvelopeSchema().load(got[0]["body"])
    assert envelope["source"] == "relytest" and envelope["payload"] == {"name": "lamp"}
    assert envelope["occurred_at"].utcoffset().total_seconds() == 0
    assert wait_until(lambda: _scalar(relytest, "SELECT count(*) FROM effects WHERE "
                                      "event_id = :e AND handler = 'count_thing'", e=event_id))
    assert _scalar(relytest, "SELECT published_at IS NOT NULL FROM outbox "
                   "WHERE event_id = :e", e=event_id)


def test_rolled_back_transaction_publishes_nothing(relytest):
    with relytest["Session"]() as session:
        envelope = record_event(session, "relytest", "thing.made", {"name": "ghost"})
        session.rollback()
    assert _received(relytest, [envelope["event_id"]], seconds=1.5) == []
    assert _scalar(relytest, "SELECT count(*) FROM outbox WHERE event_id = :e",
                   e=envelope["event_id"]) == 0


def test_events_wait_while_the_broker_is_unreachable_and_go_out_when_it_is_back(relytest):
    relytest["proxy"].block()
    try:
        event_ids = _commit_events(relytest, [f"chair-{i}" for i in range(5)])
        assert _received(relytest, event_ids, seconds=2) == []
        assert _scalar(relytest, "SELECT count(*) FROM outbox WHERE published_at IS NULL "
                       "AND event_id = ANY(CAST(:ids AS uuid[]))", ids=event_ids) == 5
    finally:
        relytest["proxy"].unblock()
    got = _received(relytest, event_ids, seconds=30)
    print(f"broker outage: expected 5 events once each, seen {len(got)}")
    assert sorted(m["body"]["event_id"] for m in got) == sorted(event_ids)


def test_duplicate_event_has_no_second_effect(relytest):
    envelope = make_envelope("relytest", "thing.made", {"name": "twice"})
    publish_envelope(relytest["amqp"], "relytest.events", envelope)
    publish_envelope(relytest["amqp"], "relytest.events", envelope)
    count = "SELECT count(*) FROM effects WHERE event_id = :e AND handler = 'count_thing'"
    assert wait_until(lambda: _scalar(relytest, count, e=envelope["event_id"]))
    assert wait_until(lambda: _scalar(
        relytest, "SELECT count(*) FROM inbox WHERE event_id = :e AND status = 'done'",
        e=envelope["event_id"]) == 2)
    assert _scalar(relytest, count, e=envelope["event_id"]) == 1


def test_failing_handler_is_retried_with_backoff_then_parked_dead_and_retry_runs_it(relytest):
    with relytest["engine"].begin() as conn:
        conn.execute(text("INSERT INTO faults VALUES ('fragile')"))
    envelope = make_envelope("relytest", "thing.made", {"name": "fragile"})
    publish_envelope(relytest["amqp"], "relytest.events", envelope)
    status = ("SELECT status || ':' || attempts FROM inbox "
              "WHERE event_id = :e AND handler = 'fragile'")
    assert wait_until(lambda: _scalar(relytest, status, e=envelope["event_id"]) ==
                      f"dead:{MAX_ATTEMPTS}", seconds=30)
    effects = "SELECT count(*) FROM effects WHERE event_id = :e AND handler = :h"
    assert _scalar(relytest, effects, e=envelope["event_id"], h="fragile") == 0  # rolled back
    assert _scalar(relytest, effects, e=envelope["event_id"], h="count_thing") == 1
    with relytest["engine"].begin() as conn:
        conn.execute(text("DELETE FROM faults"))
    with rpc_client(relytest["amqp"]) as rpc:
        dead = rpc.relytest.list_dead_events()
        assert [(d["event_id"], d["handler"]) for d in dead] == [(envelope["event_id"],
                                                                   "fragile")]
        assert "told to fail" in dead[0]["last_error"]
        assert rpc.relytest.retry_dead_event(envelope["event_id"]) == {"fragile": "done"}
        assert rpc.relytest.list_dead_events() == []
    assert _scalar(relytest, effects, e=envelope["event_id"], h="fragile") == 1


def test_backoff_doubles_and_is_capped():
    from services.common.inbox import backoff
    assert [backoff(n, 2, 600) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(20, 2, 600) == 600
