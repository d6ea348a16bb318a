"""The notifications service's Nameko entrypoints: booking and payment events become messages
to the customer and the studio; reminders before a session; operators list and send."""
from services.common.clock import now
from services.common.config import Config
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer, on_event, on_event_batches
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, TimedRpcProxy, rpc
from services.common.timers import configured_timer
from services.notifications import operations
from services.notifications.courier import Delivery
from services.notifications.models import Base


class NotificationSettings(Config):
    def build(self, config):
        return operations.Settings.from_config(config)


class NotificationsService(Pingable, ReliableConsumer):
    name = "notifications"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    delivery = Delivery()                 # sends recorded notifications after commit
    settings = NotificationSettings()
    booking = TimedRpcProxy("booking")    # a trusted caller: no access token

    # --- events: record what to say; the courier says it ---
    # Booking events carry the whole booking: recording their messages is database work
    # only, so they come in batches. (booking.created only for the hold message; nothing
    # here subscribes just to keep a copy of a booking.)
    @on_event_batches(("booking", "booking.created"), ("booking", "booking.confirmed"),
                      ("booking", "booking.cancelled"), ("booking", "booking.rescheduled"),
                      ("booking", "booking.expired"))
    def record_booking_messages(self, session, events):
        operations.record_booking_messages(session, self.settings, events, now())

    @on_event("payments", "payment.failed")
    def payment_failed(self, session, event):
        operations.announce_payment_event(session, self.settings, event,
                                          self.booking.get_booking, now())

    @on_event("payments", "payment.refunded")
    def payment_refunded(self, session, event):
        operations.announce_payment_event(session, self.settings, event,
                                          self.booking.get_booking, now())

    @on_event("payments", "payment.amount_mismatch")
    def payment_amount_mismatch(self, session, event):
        operations.announce_payment_event(session, self.settings, event,
                                          self.booking.get_booking, now())

    @on_event("payments", "payment.refund_failed")
    def payment_refund_failed(self, session, event):
        operations.announce_payment_event(session, self.settings, event,
                                          self.booking.get_booking, now())

    @on_event("integration", "webhook.endpoint_disabled")
    def webhook_endpoint_disabled(self, session, event):
        operations.announce_studio_alert(session, self.settings, event, now())

    @configured_timer("NOTIFICATIONS", "reminder_interval_seconds", default=60)
    def send_reminders(self):
        with self.db.get_session() as session:
            operations.record_due_reminders(session, self.settings, now(),
                                            self.booking.get_booking)

    # --- operators ---
    @rpc
    def list_notifications(self, booking_id=None, status=None, channel=None, cursor=None,
                           limit=50):
        """{items, next_cursor}: notifications newest first, filtered by booking_id,
        status (pending | sent | failed) and channel (telegram | email | log); pass
        next_cursor on for the next page. Each item says what was sent to whom, how many
        tries it took and the last error."""
        filters = given(booking_id=booking_id, status=status, channel=channel, cursor=cursor,
                        limit=limit)
        with self.db.get_session() as session:
            return operations.list_notifications(session, self.settings, filters)

    @rpc
    def send(self, channel=None, recipient=None, text=None, booking_id=None, template=None,
             request_id=None):
        """Send a message now; returns {items: [the recorded notifications]}, pending until
        the courier has sent them (watch them with list_notifications).

        Either free text: send(channel="telegram"|"email"|"log", recipient=..., text=...,
        booking_id=optional link), or a template for a booking's customer, rendered from
        the booking as the booking service has it: send(booking_id=..., template=
        "booking_confirmed"|"booking_cancelled"|"booking_expired"|"reminder",
        channel=optional, to use only that one of the customer's channels).
        With request_id (any string, e.g. a UUID) a repeat of the call sends nothing and
        answers the first call's messages; without, each call is a new message. Emits
        notification.sent or notification.failed once delivered or given up on. Raises
        InvalidNotification, UnknownTemplate, NoRecipient, BookingNotFound,
        IdempotencyKeyReused."""
        request = operations.parse_send_request(dict(
            channel=channel, recipient=recipient, text=text, booking_id=booking_id,
            template=template))
        booking = (self.booking.get_booking(request["booking_id"])
                   if "template" in request else None)
        with self.db.get_session() as session:
            return operations.send(session, self.settings, request, booking, now(),
                                   request_id=request_id)
