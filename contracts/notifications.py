"""The notifications contract: HTTP bodies, RPC payloads and event payloads (field names are
public)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts import paging

NOTIFICATION_STATUSES = ("pending", "sent", "failed")
CHANNELS = ("telegram", "email", "log")
# Templates an operator may send for a booking: they render from the booking alone
# (the payment_* ones need a payment, the studio_* ones go to the studio).
SENDABLE_TEMPLATES = ("booking_confirmed", "booking_cancelled", "booking_expired", "reminder")
# What the `template` field of a notification says when an operator typed the text.
FREE_TEXT = "free_text"
TELEGRAM_CHAT_ID = validate.Regexp(r"^-?[0-9]{1,20}$", error="A Telegram chat id is a number.")


class NotificationSchema(Schema):
    id = fields.Integer()
    booking_id = fields.String(allow_none=True)
    event_id = fields.String(metadata={
        "description": "the event that caused it (a reminder or an operator's send has its own)"})
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    recipient = fields.String(metadata={"description": "Telegram chat id or e-mail address"})
    audience = fields.String(metadata={
        "description": "customer, studio, or direct (an operator's text to an address)"})
    template = fields.String()
    text = fields.String()
    status = fields.String(validate=validate.OneOf(NOTIFICATION_STATUSES))
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)
    sent_at = fields.String(allow_none=True)
    created_at = fields.String()


class NotificationListQuerySchema(Schema):
    booking_id = fields.String(validate=validate.Length(min=1, max=100))
    status = fields.String(validate=validate.OneOf(NOTIFICATION_STATUSES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    cursor = paging.cursor()
    limit = paging.limit()


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next_cursor = paging.next_cursor()


class SendNotificationSchema(Schema):
    """Either free text to a recipient, or a template rendered for a booking's customer."""
    channel = fields.String(validate=validate.OneOf(CHANNELS), metadata={
        "description": "with text: the channel; with a template: only this one of the "
                       "customer's channels (default: every channel the customer gave)"})
    recipient = fields.String(validate=validate.Length(min=1, max=320))
    text = fields.String(validate=validate.Length(min=1, max=4000))
    booking_id = fields.String(validate=validate.Length(min=1, max=100))
    template = fields.String(validate=validate.OneOf(SENDABLE_TEMPLATES))

    @validates_schema
    def _one_shape(self, data, **kwargs):
        if "text" in data:
            missing = {name: ["needed to send a text"]
                       for name in ("channel", "recipient") if not data.get(name)}
            if missing:
                raise ValidationError(missing)
            if "template" in data:
                raise ValidationError({"template": ["send either a text or a template, not both"]})
            _check_recipient(data["channel"], data["recipient"])
        elif "template" in data:
            if not data.get("booking_id"):
                raise ValidationError({"booking_id": ["needed to send a template"]})
            if "recipient" in data:
                raise ValidationError(
                    {"recipient": ["a template goes to the booking's customer"]})
        else:
            raise ValidationError(
                "Send {channel, recipient, text} or {booking_id, template}.", "_schema")


def _check_recipient(channel, recipient):
    try:
        if channel == "telegram":
            TELEGRAM_CHAT_ID(recipient.strip())
        elif channel == "email":
            fields.Email().deserialize(recipient.strip())
    except ValidationError as exc:
        raise ValidationError({"recipient": exc.messages})


class NotificationEventPayloadSchema(Schema):
    """Payload of notification.sent / notification.failed (version 1). Recipient is the
    address the message went to; no credentials are ever part of it."""
    notification_id = fields.Integer(required=True)
    booking_id = fields.String(allow_none=True, required=True)
    event_id = fields.String(required=True)
    channel = fields.String(required=True)
    recipient = fields.String(required=True)
    template = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, required=True)
