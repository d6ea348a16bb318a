"""A small service used only by the outbox/inbox tests: it consumes its own events."""
from sqlalchemy import MetaData, text
from sqlalchemy.orm import DeclarativeBase

from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer, on_event
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable

SCHEMA = """
CREATE TABLE effects (event_id uuid NOT NULL, handler text NOT NULL, name text NOT NULL);
CREATE TABLE faults (handler text PRIMARY KEY);
"""


class Base(DeclarativeBase):
    metadata = MetaData()


def _effect(session, handler, event):
    if session.execute(text("SELECT 1 FROM faults WHERE handler = :h"), {"h": handler}).first():
        session.execute(text("INSERT INTO effects VALUES (:e, :h, 'half-done')"),
                        {"e": event["event_id"], "h": handler})  # must be rolled back
        raise RuntimeError(f"{handler} is told to fail")
    session.execute(text("INSERT INTO effects VALUES (:e, :h, :n)"),
                    {"e": event["event_id"], "h": handler, "n": event["payload"]["name"]})


class RelyTestService(Pingable, ReliableConsumer):
    name = "relytest"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()

    @on_event("relytest", "thing.made")
    def count_thing(self, session, event):
        _effect(session, "count_thing", event)

    @on_event("relytest", "thing.made")
    def fragile(self, session, event):
        _effect(session, "fragile", event)
