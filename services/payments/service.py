"""The payments service's Nameko entrypoints."""
from services.payments.models import Base
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable


class PaymentsService(Pingable, ReliableConsumer):
    name = "payments"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
