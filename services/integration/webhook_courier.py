"""The webhooks' courier (services.common.courier): sends recorded deliveries after their
transaction commits, each by its own green thread, so a slow receiver delays only its own."""
from services.common.clock import now
from services.common.courier import Courier, CourierProvider
from services.integration import webhooks
from services.integration.webhook_rules import WebhookSettings


class WebhookWork:
    wake_channel = webhooks.WAKE_CHANNEL

    def __init__(self, settings):
        self.settings = settings

    def claim_due(self, session, now, limit):
        claims = webhooks.claim_due(session, self.settings, now, limit)
        return claims, webhooks.next_due_at(session) if len(claims) < limit else None

    def deliver(self, claim):
        return webhooks.deliver(claim, self.settings, now())

    def record_outcome(self, session, claim, outcome, now):
        webhooks.record_outcome(session, self.settings, claim, outcome, now)


class WebhookDelivery(CourierProvider):
    def build_courier(self, config, uri):
        settings = WebhookSettings.from_config(config)
        return Courier(uri, WebhookWork(settings), "webhook delivery", settings.concurrency,
                       settings.interval_seconds)
