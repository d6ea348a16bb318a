"""The notifications' courier (services.common.courier): delivers recorded notifications
after their transaction commits, each by its own green thread, so a slow Telegram delays only
its own messages, never the event handlers, which only record."""
from services.common.courier import Courier, CourierProvider
from services.notifications import operations, store
from services.notifications.channels import build_channels


class NotificationWork:
    wake_channel = store.WAKE_CHANNEL

    def __init__(self, settings, channels):
        self.settings = settings
        self.channels = channels

    def claim_due(self, session, now, limit):
        return operations.claim_due(session, self.settings, now, limit)

    def deliver(self, claim):
        return operations.deliver(claim, self.channels, self.settings)

    def record_outcome(self, session, claim, outcome, now):
        operations.record_outcome(session, self.settings, claim, outcome, now)


class Delivery(CourierProvider):
    """Declare it on the service (`delivery = Delivery()`) to run its courier."""

    def build_courier(self, config, uri):
        settings = operations.Settings.from_config(config)
        work = NotificationWork(
            settings, build_channels((config.get("NOTIFICATIONS") or {}).get("channels")))
        return Courier(uri, work, "notification", settings.delivery_concurrency,
                       settings.delivery_interval_seconds)
