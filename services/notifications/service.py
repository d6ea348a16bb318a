"""The notifications service's Nameko entrypoints."""
from services.notifications.models import Base
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable


class NotificationsService(Pingable, ReliableConsumer):
    name = "notifications"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
