"""The integration service's Nameko entrypoints."""
from services.integration.models import Base
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable


class IntegrationService(Pingable, ReliableConsumer):
    name = "integration"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
