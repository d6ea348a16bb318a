"""The notifications service's use cases.

Recording and delivering are two separate steps. An event handler only records pending
notifications, in the transaction of its inbox row: fast, idempotent, and never waiting on
Telegram or a mail server. A courier delivers them after commit (services.notifications.courier):
it claims due rows in one short transaction, sends with no transaction open, and records the
outcome (with notification.sent / notification.failed in the outbox) in another.
"""
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from contracts.errors.base import IdempotencyKeyReused, NotFound, ServiceUnavailable
from contracts.errors.notifications import InvalidNotification, NoRecipient, UnknownTemplate
from contracts.ical import CalendarSettings, booking_calendar, calendar_link
from contracts.notifications import FREE_TEXT, SENDABLE_TEMPLATES, NotificationListQuerySchema, SendNotificationSchema
from services.common import tracing
from services.common.booking_links import DEFAULT_SECRET as DEFAULT_LINK_SECRET
from services.common.booking_links import link_token, secret_from_config
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import record_event
from services.notifications import store
from services.notifications.channels import PermanentDelivery, RetryableDelivery, backoff_seconds
from services.notifications.messages import choose_customer_recipients, render

log = logging.getLogger(__name__)

SOURCE = "notifications"
MAX_ERROR_CHARS = 2000
# Reminders have no event of their own: their key is derived from the booking, so however
# often the timer runs (in however many processes), a booking gets one reminder.
REMINDER_KEYS = uuid.UUID("5b0e7f0a-6d1c-4c55-9a57-1f0d2b1f7e21")
# A copy of a booking is kept this long after it ended, for late refunds' messages.
KEEP_FINISHED_BOOKINGS = timedelta(days=30)

# event type -> (template for the customer, template for the studio)
BOOKING_MESSAGES = {
    "booking.confirmed": ("booking_confirmed", "studio_booking_confirmed"),
    "booking.cancelled": ("booking_cancelled", "studio_booking_cancelled"),
    "booking.rescheduled": ("booking_rescheduled", "studio_booking_rescheduled"),
    "booking.expired": ("booking_expired", "studio_booking_expired"),
}
PAYMENT_MESSAGES = {
    "payment.failed": ("payment_failed", "studio_payment_failed"),
    "payment.refunded": ("payment_refunded", "studio_payment_refunded"),
    # money that does not match the payment: the studio must look, the customer hears nothing
    "payment.amount_mismatch": (None, "studio_payment_amount_mismatch"),
    # a refund the provider refused: the studio must act before the customer asks
    "payment.refund_failed": (None, "studio_payment_refund_failed"),
}
# alerts for the studio alone, from events that concern no booking
STUDIO_ALERTS = {
    "webhook.endpoint_disabled": "studio_webhook_endpoint_disabled",
}
# Customer messages that carry the booking for their calendar: an .ics in an e-mail, a link
# in the text (templates read `calendar_url`).
CALENDAR_TEMPLATES = ("booking_confirmed", "booking_rescheduled")
# Where the studio's messages go when no studio contact is configured (development).
STUDIO_IN_THE_LOG = (("log", "studio"),)


@dataclass(frozen=True)
class Settings:
    language: str = "ru"
    timezone: str = "Europe/Moscow"
    reminder_before: timedelta = timedelta(hours=24)
    studio_recipients: tuple = STUDIO_IN_THE_LOG
    max_attempts: int = 8
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3600.0
    delivery_interval_seconds: float = 5.0
    delivery_concurrency: int = 10
    delivery_lease_seconds: float = 120.0
    secrets: tuple = ()
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str = DEFAULT_LINK_SECRET
    calendar: CalendarSettings = CalendarSettings()

    @classmethod
    def from_config(cls, config):
        section = config.get("NOTIFICATIONS") or {}
        studio = section.get("studio") or {}
        channels = section.get("channels") or {}
        studio_recipients = tuple(
            (channel, str(value).strip()) for channel, value in (
                ("telegram", studio.get("telegram_chat_id")), ("email", studio.get("email")))
            if value not in (None, "") and str(value).strip())
        secrets = tuple(str(value) for value in (
            (channels.get("telegram") or {}).get("bot_token"),
            (channels.get("email") or {}).get("password")) if value)
        defaults = cls()

        def number(name, default, kind=float):
            value = section.get(name)
            return default if value in (None, "") else kind(value)

        return cls(
            language=section.get("language") or defaults.language,
            timezone=config.get("STUDIO_TIMEZONE") or defaults.timezone,
            reminder_before=timedelta(hours=number("reminder_before_hours", 24)),
            studio_recipients=studio_recipients or STUDIO_IN_THE_LOG,
            max_attempts=number("max_attempts", defaults.max_attempts, int),
            backoff_base_seconds=number("backoff_base_seconds", defaults.backoff_base_seconds),
            backoff_cap_seconds=number("backoff_cap_seconds", defaults.backoff_cap_seconds),
            delivery_interval_seconds=number("delivery_interval_seconds",
                                             defaults.delivery_interval_seconds),
            delivery_concurrency=number("delivery_concurrency", defaults.delivery_concurrency,
                                        int),
            delivery_lease_seconds=number("delivery_lease_seconds",
                                          defaults.delivery_lease_seconds),
            secrets=secrets,
            public_url=str(config.get("PUBLIC_URL") or defaults.public_url).rstrip("/"),
            link_secret=secret_from_config(config),
            calendar=CalendarSettings.from_config(config),
        )

    def scrub(self, text):
        """An error text safe to store, log and publish: no bot token, no SMTP password."""
        for secret in self.secrets:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "<secret>")
        return text[:MAX_ERROR_CHARS]


# --- views: what callers get back ---------------------------------------------------------

def notification_view(row, settings):
    return {
        "id": row.id, "booking_id": row.booking_id, "event_id": str(row.event_id),
        "channel": row.channel, "recipient": row.recipient, "audience": row.audience,
        "template": row.template, "text": row.text, "status": row.status,
        "attempts": row.attempts, "last_error": row.last_error,
        "next_attempt_at": iso(row.next_attempt_at, settings.timezone)
        if row.status == "pending" else None,
        "sent_at": iso(row.sent_at, settings.timezone),
        "created_at": iso(row.created_at, settings.timezone),
    }


def event_payload(row):
    """The public payload of notification.sent / notification.failed
    (contracts.notifications.NotificationEventPayloadSchema)."""
    return {"notification_id": row.id, "booking_id": row.booking_id,
            "event_id": str(row.event_id), "channel": row.channel, "recipient": row.recipient,
            "template": row.template, "status": row.status, "attempts": row.attempts,
            "last_error": row.last_error}


def booking_context(booking):
    """What the templates read, from a booking as get_booking returns it or as an event
    payload carries it."""
    context = dict(booking)
    if "booking_id" not in context and "id" in context:
        context["booking_id"] = context["id"]
    return context


def booking_links(settings, booking_id):
    """The links a message about a booking carries: its page, paying the rest, the calendar
    file. They open the booking by its link token, in the fragment (never sent to a server)."""
    page = f"{settings.public_url}/b/{booking_id}#t={link_token(settings.link_secret, booking_id)}"
    return {"booking_url": page, "pay_url": f"{page}&do=pay",
            "calendar_url": f"{page}&do=calendar"}


# --- recording ---------------------------------------------------------------------------------

def record_messages(session, settings, now, *, event_id, booking_id, context, recipients,
                    template, audience):
    """Record `template` rendered from `context` for each (channel, recipient), once per
    event; returns the rows recorded now (a repeat records none)."""
    if not recipients:
        return []
    if booking_id:
        context = {**context, **booking_links(settings, booking_id)}
    ics = None
    if template in CALENDAR_TEMPLATES:
        # the .ics itself by a link signed with BOOKING_LINK_SECRET (none when it is empty)
        direct = calendar_link(booking_id, settings.calendar)
        if direct:
            context = {**context, "calendar_url": direct}
        ics = booking_calendar(context, settings.calendar,
                               stamp=context.get("updated_at") or now).decode()
    text = render(template, context, settings.language, settings.timezone)
    return store.add_notifications(session, now, [
        {"event_id": event_id, "booking_id": booking_id, "channel": channel,
         "recipient": recipient, "audience": audience, "template": template, "text": text,
         "calendar": ics if channel == "email" else None, "correlation_id": tracing.current()}
        for channel, recipient in recipients])


def _tell_customer_and_studio(session, settings, event, context, customer, templates, now):
    customer_template, studio_template = templates
    booking_id = context.get("booking_id")
    common = dict(event_id=event["event_id"], booking_id=booking_id, context=context)
    customer_recipients = choose_customer_recipients(customer) if customer_template else []
    if customer_template and not customer_recipients:  # a phone only: the studio calls them
        log.info("%s for booking %s: no Telegram chat or e-mail to tell the customer",
                 event["type"], booking_id)
    rows = record_messages(session, settings, now, **common, template=customer_template,
                           recipients=customer_recipients, audience="customer")
    rows += record_messages(session, settings, now, **common, template=studio_template,
                            recipients=settings.studio_recipients, audience="studio")
    return rows


def record_booking_messages(session, settings, events, now):
    """Booking events that arrived together: each one's messages, in the caller's
    transaction."""
    for event in events:
        with tracing.continuing(event.get("correlation_id")):
            if event["type"] == "booking.created":
                announce_hold(session, settings, event, now)
            else:
                announce_booking_event(session, settings, event, now)


def announce_hold(session, settings, event, now):
    """booking.created: a customer who gave an e-mail or a Telegram chat hears that the slot
    is held for them, what to pay by when, and where (the booking's page). A phone alone
    gets nothing: the studio has not been asked to call about an unpaid hold."""
    payload = event["payload"]
    if not payload.get("hold_expires_at"):  # an event from before holds were announced
        return []
    return record_messages(session, settings, now, event_id=event["event_id"],
                           booking_id=payload["booking_id"], context=booking_context(payload),
                           recipients=choose_customer_recipients(payload.get("customer")),
                           template="booking_held", audience="customer")


def remember_booking(session, event):
    """Keep the booking as this event tells it (for payment messages and reminders)."""
    store.save_booking_copy(session, event["payload"],
                            datetime.fromisoformat(event["occurred_at"]))


def announce_booking_event(session, settings, event, now):
    """booking.confirmed / cancelled / rescheduled / expired: the customer and the studio are
    told."""
    remember_booking(session, event)
    payload = event["payload"]
    # The event's time stamps the calendar file (its DTSTAMP) when the payload has none.
    context = {"updated_at": event["occurred_at"], **booking_context(payload)}
    return _tell_customer_and_studio(session, settings, event, context,
                                     payload.get("customer"), BOOKING_MESSAGES[event["type"]],
                                     now)


def find_booking(session, booking_id, ask_booking):
    """The booking a payment is for: from the booking service (`ask_booking`, an RPC), else
    from our copy. None when there is no such booking. Raises ServiceUnavailable when the
    booking service is away and we have no copy: the inbox tries again later."""
    if not booking_id:
        return None
    try:
        return booking_context(ask_booking(booking_id))
    except NotFound:
        return None
    except ServiceUnavailable:
        copy = store.load_booking_copy(session, booking_id)
        if copy is None:
            raise
        log.info("booking did not answer: payment message for %s from our copy", booking_id)
        return booking_context(copy.payload)


def announce_payment_event(session, settings, event, ask_booking, now):
    """payment.failed / payment.refunded: the customer and the studio are told;
    payment.amount_mismatch and payment.refund_failed: the studio only. The booking's
    details come from the booking service (or our copy of it)."""
    payment = event["payload"]
    booking = find_booking(session, payment.get("booking_id"), ask_booking)
    # The payment's own fields win: its amount, currency and status are what happened.
    context = {**(booking or {}), **payment}
    customer = (booking or {}).get("customer")
    return _tell_customer_and_studio(session, settings, event, context, customer,
                                     PAYMENT_MESSAGES[event["type"]], now)


def announce_studio_alert(session, settings, event, now):
    """An operator alert about no booking (webhook.endpoint_disabled): the studio is told."""
    return record_messages(session, settings, now, event_id=event["event_id"], booking_id=None,
                           context=event["payload"], recipients=settings.studio_recipients,
                           template=STUDIO_ALERTS[event["type"]], audience="studio")


def reminder_event_id(booking_id):
    return str(uuid.uuid5(REMINDER_KEYS, f"reminder:{booking_id}"))


def record_due_reminders(session, settings, now, ask_booking=None):
    """One reminder per confirmed booking, reminder_before before it starts (at once for a
    booking confirmed later than that). What is still due comes from the booking service
    (`ask_booking`, an RPC) when it answers, else from our copy (as of its last booking event).
    Returns how many bookings were reminded."""
    copies = store.due_reminders(session, now + settings.reminder_before, now)
    for copy in copies:
        context = booking_context(copy.payload)
        if ask_booking is not None:
            context = find_booking(session, copy.booking_id, ask_booking) or context
        record_messages(session, settings, now, event_id=reminder_event_id(copy.booking_id),
                        booking_id=copy.booking_id, context=context,
                        recipients=choose_customer_recipients(context.get("customer")),
                        template="reminder", audience="customer")
        copy.reminded_at = now
    store.forget_finished_bookings(session, now - KEEP_FINISHED_BOOKINGS)
    return len(copies)


# --- operators ----------------------------------------------------------------------------------

def list_notifications(session, settings, filters):
    query = load(NotificationListQuerySchema, filters, InvalidNotification)
    rows, next_cursor = store.list_notification_rows(
        session, query.get("booking_id"), query.get("status"), query.get("channel"),
        query.get("cursor"), query["limit"])
    return {"items": [notification_view(row, settings) for row in rows],
            "next_cursor": next_cursor}


def parse_send_request(data):
    """Validate an operator's send: {channel, recipient, text[, booking_id]} or
    {booking_id, template[, channel]}."""
    data = {k: v for k, v in data.items() if v is not None}
    template = data.get("template")
    if template is not None and template not in SENDABLE_TEMPLATES:
        raise UnknownTemplate(f"There is no template {template!r} to send for a booking.",
                              {"template": [f"one of: {', '.join(SENDABLE_TEMPLATES)}"]})
    request = load(SendNotificationSchema, data, InvalidNotification)
    if "recipient" in request:
        request["recipient"] = request["recipient"].strip()
    return request


# Manual sends with a request id get an event id derived from it: a repeat finds its rows.
MANUAL_SEND_NAMESPACE = uuid.UUID("0b5c7c1e-3f4d-4b8e-9a57-6a8f0c2d9e41")


def send(session, settings, request, booking, now, request_id=None):
    """Record an operator's message (pending; the courier sends it); returns {items}.
    `booking` is the booking (get_booking) when a template is asked for. With a request_id
    (the Idempotency-Key) a repeat sends nothing and answers the first call's messages; the
    same request_id with another request is IdempotencyKeyReused. Without one, each call is
    a new message."""
    if request_id:
        event_id = str(uuid.uuid5(MANUAL_SEND_NAMESPACE, str(request_id)))
        earlier = store.notifications_of_event(session, event_id)
        if earlier:
            if not all(_same_manual_send(row, request) for row in earlier):
                raise IdempotencyKeyReused("This Idempotency-Key was used for another message.",
                                           {"request_id": request_id})
            return {"items": [notification_view(row, settings) for row in earlier]}
    else:
        event_id = str(uuid.uuid4())
    rows = _record_manual_send(session, settings, request, booking, event_id, now)
    if not rows:  # the same request id, sent at the same moment: the other one won
        rows = store.notifications_of_event(session, event_id)
    return {"items": [notification_view(row, settings) for row in rows]}


def _record_manual_send(session, settings, request, booking, event_id, now):
    """The rows recorded now for an operator's message (none when its event id has them)."""
    if "text" in request:
        return store.add_notifications(session, now, [{
            "event_id": event_id, "booking_id": request.get("booking_id"),
            "channel": request["channel"], "recipient": request["recipient"],
            "audience": "direct", "template": FREE_TEXT, "text": request["text"],
            "correlation_id": tracing.current()}])

    context = booking_context(booking)
    recipients = choose_customer_recipients(context.get("customer"))
    if "channel" in request:
        recipients = [(c, r) for c, r in recipients if c == request["channel"]]
    if not recipients:
        field = "channel" if "channel" in request else "booking_id"
        raise NoRecipient("The booking's customer cannot be reached this way.",
                          {field: ["the customer gave no Telegram chat or e-mail for this"]})
    return record_messages(session, settings, now, event_id=event_id,
                           booking_id=context["booking_id"], context=context,
                           recipients=recipients, template=request["template"],
                           audience="customer")


def _same_manual_send(row, request):
    if "text" in request:
        return ((row.channel, row.recipient, row.text, row.template)
                == (request["channel"], request["recipient"], request["text"], FREE_TEXT))
    return (row.template == request["template"]
            and str(row.booking_id) == str(request["booking_id"])
            and request.get("channel") in (None, row.channel))


# --- delivery -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A notification a courier has taken for one try (its `attempts` counts this try)."""
    id: int
    channel: str
    recipient: str
    text: str
    attempts: int
    calendar: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str                     # sent | retry | failed
    error: str | None = None
    retry_after: float | None = None
    provider_message_id: str | None = None


def claim_due(session, settings, now, limit):
    """([Claim] taken for one try, when the next notification not taken falls due or None)."""
    rows, next_due_at = store.claim_due(session, now, limit, settings.delivery_lease_seconds)
    return [Claim(*row) for row in rows], next_due_at


def deliver(claim, channels, settings):
    """Hand one notification to its channel. No database work: no transaction is open while
    Telegram or the mail server takes its time."""
    channel = channels.get(claim.channel)
    if channel is None:
        return Outcome("failed", error=f"no channel {claim.channel!r}")
    try:
        if claim.calendar:
            message_id = channel.send(claim.recipient, claim.text, calendar=claim.calendar)
        else:
            message_id = channel.send(claim.recipient, claim.text)
    except RetryableDelivery as exc:
        return Outcome("retry", error=settings.scrub(str(exc)), retry_after=exc.retry_after)
    except PermanentDelivery as exc:
        return Outcome("failed", error=settings.scrub(str(exc)))
    except Exception as exc:  # a surprise from a library: try again, up to max_attempts
        # No traceback in the log: its frames could hold the token-bearing URL.
        error = settings.scrub(f"unexpected: {exc!r}")
        log.error("%s channel failed unexpectedly: %s", claim.channel, error)
        return Outcome("retry", error=error)
    return Outcome("sent", provider_message_id=message_id)


def record_outcome(session, settings, claim, outcome, now):
    """Store how the try went; a final outcome also records notification.sent / .failed in
    the same transaction. Returns the row, or None if the claim had lapsed to someone else."""
    row = store.settle_claimed(session, claim.id, claim.attempts,
                               outcome_changes(settings, claim.attempts, outcome, now))
    if row is None:
        log.warning("notification %s: claim of try %s lapsed before its outcome was stored",
                    claim.id, claim.attempts)
        return None
    if row.status != "pending":
        with tracing.continuing(row.correlation_id):   # the courier's timer has none of its own
            record_event(session, SOURCE, f"notification.{row.status}", event_payload(row))
    return row


def outcome_changes(settings, attempts, outcome, now):
    """What a try's outcome changes in its notification: sent, failed, or pending again
    after a backoff while tries are left."""
    if outcome.status == "sent":
        return {"status": "sent", "sent_at": now, "last_error": None, "next_attempt_at": None,
                "provider_message_id": outcome.provider_message_id, "updated_at": now}
    if outcome.status == "retry" and attempts < settings.max_attempts:
        return {"last_error": outcome.error, "updated_at": now,
                "next_attempt_at": now + timedelta(seconds=backoff_seconds(
                    attempts, outcome.retry_after, settings.backoff_base_seconds,
                    settings.backoff_cap_seconds))}
    return {"status": "failed", "last_error": outcome.error, "next_attempt_at": None,
            "updated_at": now}
