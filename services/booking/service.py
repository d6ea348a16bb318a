"""The booking service's Nameko entrypoints."""
from services.booking.models import Base
from services.common.db import ServiceDatabase
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable


class BookingService(Pingable):
    name = "booking"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
