"""The integration service's tables: the integration log, and its outbox and inbox."""
from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, MetaData, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = MetaData()


class EventLogRow(Base):
    """One row per event consumed (a repeat delivery adds nothing), with what it drove."""

    __tablename__ = "event_log"

    event_id = Column(UUID(as_uuid=False), primary_key=True)
    type = Column(Text, nullable=False)
    version = Column(Integer, nullable=False)
    source = Column(Text, nullable=False)
    occurred_at = Column(DateTime(timezone=True), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # Pulled out of the payload so operators can search by them.
    booking_id = Column(Text)
    payment_id = Column(Text)
    payload = Column(JSONB, nullable=False)
    status = Column(Text, nullable=False)        # logged | done | failed | dead
    reaction = Column(Text)
    outcome = Column(Text)
    attempts = Column(Integer, nullable=False, server_default="0")
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("status IN ('logged', 'done', 'failed', 'dead')",
                        name="event_log_status"),
        # The paging order of list_events (newest first) and every filter's own order.
        Index("event_log_occurred", "occurred_at", "event_id"),
        Index("event_log_booking", "booking_id", "occurred_at"),
        Index("event_log_payment", "payment_id", "occurred_at"),
        Index("event_log_type", "type", "occurred_at"),
        Index("event_log_unfinished", "status", "occurred_at",
              postgresql_where=text("status IN ('failed', 'dead')")),
    )


outbox, inbox = reliability_tables_v1(Base.metadata)
