"""The outbox and inbox tables every service database has.

Frozen as version 1: each service's first migration creates them from here; a later change
to them is a new migration, not an edit of this function.
"""
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID


def reliability_tables_v1(metadata: MetaData):
    outbox = Table(
        "outbox", metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        Column("type", Text, nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )
    inbox = Table(
        "inbox", metadata,
        Column("event_id", UUID(as_uuid=False), primary_key=True),
        Column("handler", Text, primary_key=True),
        Column("type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("status", Text, nullable=False),  # done | failed | dead
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Column("next_attempt_at", DateTime(timezone=True)),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("handled_at", DateTime(timezone=True)),
        Index("inbox_due", "next_attempt_at", postgresql_where=text("status = 'failed'")),
    )
    return outbox, inbox


def create_reliability_tables(bind):
    """For a service's first migration."""
    metadata = MetaData()
    reliability_tables_v1(metadata)
    metadata.create_all(bind)


def drop_reliability_tables(bind):
    metadata = MetaData()
    reliability_tables_v1(metadata)
    metadata.drop_all(bind)
