"""The notifications service's tables."""
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from services.common.tables import reliability_tables_v1


class Base(DeclarativeBase):
    metadata = MetaData()


outbox, inbox = reliability_tables_v1(Base.metadata)
