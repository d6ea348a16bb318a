"""Every event the studio publishes: where it goes, what it means and its payload's schema.

This catalog is the public contract in one place: docs/events.md explains it, the AsyncAPI
document (`python -m contracts.asyncapi`) is generated from it, and the integration service
consumes every event listed here (a test holds it to that).
"""
from dataclasses import dataclass

from contracts.booking import BookingEventPayloadSchema, BookingRescheduledPayloadSchema
from contracts.closures import BlockEventPayloadSchema
from contracts.notifications import NotificationEventPayloadSchema
from contracts.payments import PaymentEventPayloadSchema
from contracts.webhooks import WebhookEndpointDisabledPayloadSchema


@dataclass(frozen=True)
class EventType:
    type: str            # also the routing key
    source: str          # the service that emits it
    version: int
    payload: type        # marshmallow schema class of `payload`
    summary: str

    @property
    def exchange(self):
        return exchange_of(self.source)


def exchange_of(source):
    """Each service publishes to its own durable topic exchange `<service>.events`."""
    return f"{source}.events"


def _booking(name, summary):
    return EventType(f"booking.{name}", "booking", 1, BookingEventPayloadSchema, summary)


def _payment(name, summary):
    return EventType(f"payment.{name}", "payments", 1, PaymentEventPayloadSchema, summary)


def _notification(name, summary):
    return EventType(f"notification.{name}", "notifications", 1,
                     NotificationEventPayloadSchema, summary)


CATALOG = (
    _booking("created", "A slot is held for the customer, unpaid, until the hold expires "
                        "(status pending_payment)."),
    _booking("confirmed", "The first payment arrived (online or at the desk): the booking is "
                          "confirmed and its slot is the customer's."),
    _booking("payment_recorded", "A further payment (the remainder) of a confirmed booking."),
    _booking("cancelled", "The customer or an operator cancelled; refund_due (kopecks) is what "
                          "goes back under the cancellation policy."),
    EventType("booking.rescheduled", "booking", 1, BookingRescheduledPayloadSchema,
              "The booking moved to another time or hall (`previous` says where it was); the "
              "price was quoted again: more leaves more due, and refund_due (kopecks paid "
              "beyond the new price) goes back to the customer."),
    _booking("expired", "An unpaid hold ran out; the slot is free again."),
    _booking("completed", "A confirmed booking's session has ended."),
    EventType("hall.blocked", "booking", 1, BlockEventPayloadSchema,
              "An operator closed a hall from start to end (a holiday, maintenance, the "
              "studio's own shoot): customers no longer see that time and no booking takes it."),
    EventType("hall.unblocked", "booking", 1, BlockEventPayloadSchema,
              "An operator opened a block's time again."),
    _payment("succeeded", "The provider confirmed the money; the booking will be confirmed "
                          "(or, if its slot is gone, the payment refunded)."),
    _payment("failed", "A payment was declined, canceled, or never paid in time. The hold "
                       "stays until it expires; the customer may pay again."),
    _payment("refunded", "Money went back: refund_amount now, refunded_amount in total."),
    _payment("amount_mismatch", "An operator alert: the provider reported another amount or "
                                "currency than was asked (reported_amount, reported_currency); "
                                "nothing was applied."),
    _payment("refund_failed", "An operator alert: the provider refused a refund (refund_id, "
                              "refund_amount); the money is still the customer's and can be "
                              "refunded again."),
    _notification("sent", "A message reached its channel (Telegram, e-mail or the log)."),
    _notification("failed", "A message could not be delivered after its last try."),
    EventType("webhook.endpoint_disabled", "integration", 1,
              WebhookEndpointDisabledPayloadSchema,
              "An operator alert: outbound webhooks to an endpoint stopped (it answered 410 "
              "Gone, or every delivery failed for days); its deliveries wait until an "
              "operator re-enables it."),
)

BY_TYPE = {event.type: event for event in CATALOG}
SOURCES = tuple(dict.fromkeys(event.source for event in CATALOG))
