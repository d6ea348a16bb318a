"""The integration contract: the integration log over RPC and HTTP (field names are public)."""
from datetime import timezone

from marshmallow import Schema, fields, validate

from contracts import paging
from contracts.bounds import AwareMoment
from contracts.events_catalog import BY_TYPE, SOURCES

# logged: nothing to do for it; done: its reaction succeeded; failed: the reaction failed and
# will be tried again; dead: it failed on every try and waits for an operator (retry_event).
EVENT_STATUSES = ("logged", "done", "failed", "dead")
ID = validate.Length(min=1, max=100)


class EventLogQuerySchema(Schema):
    type = fields.String(validate=validate.OneOf(sorted(BY_TYPE)))
    source = fields.String(validate=validate.OneOf(SOURCES))
    booking_id = fields.String(validate=ID)
    payment_id = fields.String(validate=ID)
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    correlation_id = fields.String(validate=validate.Length(min=1, max=100), metadata={
        "description": "every event of one chain: the X-Request-ID that started it"})
    since = AwareMoment(default_timezone=timezone.utc, metadata={
        "description": "occurred at or after (ISO-8601; no offset means UTC)"})
    until = AwareMoment(default_timezone=timezone.utc, metadata={
        "description": "occurred before (ISO-8601; no offset means UTC)"})
    cursor = paging.cursor(description="next_cursor of the previous page")
    limit = paging.limit()


class EventLogItemSchema(Schema):
    event_id = fields.String()
    type = fields.String()
    version = fields.Integer()
    source = fields.String()
    occurred_at = fields.String(metadata={"description": "when the source says it happened (UTC)"})
    received_at = fields.String(metadata={"description": "when the integration log got it (UTC)"})
    booking_id = fields.String(allow_none=True)
    payment_id = fields.String(allow_none=True)
    payload = fields.Dict(metadata={"description": "the event's payload as it was published"})
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    reaction = fields.String(allow_none=True, metadata={
        "description": "what the event drove: confirm_booking, refund_slot_taken, "
                       "refund_booking_cancelled, refund_overpaid, refund_booking; null when "
                       "nothing"})
    outcome = fields.String(allow_none=True, metadata={
        "description": "how the reaction went (or why there was none), for people"})
    attempts = fields.Integer(metadata={"description": "tries of its reaction so far"})
    correlation_id = fields.String(allow_none=True, metadata={
        "description": "the X-Request-ID that started the event's chain"})


class EventLogPageSchema(Schema):
    items = fields.List(fields.Nested(EventLogItemSchema))
    next_cursor = paging.next_cursor(
        description="pass it as `cursor` for the next (older) page; null on the last")


class BookingChainSchema(Schema):
    booking_id = fields.String()
    items = fields.List(fields.Nested(EventLogItemSchema), metadata={
        "description": "the booking's events, oldest first"})
