"""The booking contract: HTTP bodies, RPC payloads and event payloads (field names are public)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts import paging

BOOKING_STATUSES = ("pending_payment", "confirmed", "cancelled", "expired", "completed")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()\-]{5,22}[0-9]$",
                        error="Not a phone number: digits, optionally +, spaces, (), -.")
TELEGRAM_CHAT_ID = validate.Regexp(r"^-?[0-9]{1,20}$", error="A Telegram chat id is a number.")


class CustomerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    phone = fields.String(required=True, validate=PHONE)
    email = fields.Email(load_default=None, allow_none=True)
    telegram_chat_id = fields.String(load_default=None, allow_none=True,
                                     validate=TELEGRAM_CHAT_ID)

    @validates_schema
    def _name_is_not_blank(self, data, **kwargs):
        if not data.get("name", "x").strip():
            raise ValidationError("The name cannot be blank.", "name")


class CreateBookingSchema(Schema):
    hall_id = fields.Integer(required=True, strict=True)
    start = fields.DateTime(required=True, metadata={
        "description": "ISO-8601; a time without offset is the studio's local time"})
    end = fields.DateTime(required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=1000))


class HallSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    capacity = fields.Integer()
    hourly_price = fields.Integer(metadata={"description": "base price per hour, kopecks"})


class AvailabilityQuerySchema(Schema):
    hall_id = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)


class SlotSchema(Schema):
    start = fields.String()
    end = fields.String()
    price = fields.Integer(metadata={"description": "kopecks"})


class DaySchema(Schema):
    date = fields.String()
    slots = fields.List(fields.Nested(SlotSchema))


class AvailabilitySchema(Schema):
    hall_id = fields.Integer()
    timezone = fields.String()
    slot_minutes = fields.Integer()
    days = fields.List(fields.Nested(DaySchema))


class QuoteQuerySchema(Schema):
    hall_id = fields.Integer(required=True)
    start = fields.DateTime(required=True)
    end = fields.DateTime(required=True)


class QuoteSchema(Schema):
    price_total = fields.Integer()
    prepayment_amount = fields.Integer()
    currency = fields.String()


class BookingSchema(Schema):
    id = fields.String()
    hall_id = fields.Integer()
    hall_name = fields.String()
    start = fields.String()
    end = fields.String()
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    price_total = fields.Integer()
    prepayment_amount = fields.Integer()
    amount_paid = fields.Integer()
    remaining_due = fields.Integer()
    currency = fields.String()
    hold_expires_at = fields.String(allow_none=True)
    customer = fields.Nested(CustomerSchema)
    comment = fields.String(allow_none=True)
    refund_due = fields.Integer(allow_none=True)
    created_at = fields.String()


class CreatedBookingSchema(BookingSchema):
    access_token = fields.String(metadata={
        "description": "shown once: the customer's key to this booking (Bearer token)"})


class BookingListQuerySchema(Schema):
    hall_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    date_from = fields.Date()
    date_to = fields.Date()
    cursor = paging.cursor()
    limit = paging.limit()


class BookingListSchema(Schema):
    items = fields.List(fields.Nested(BookingSchema))
    next_cursor = paging.next_cursor()


class ConfirmBookingSchema(Schema):
    amount = fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "kopecks received; default: everything still due"})
    payment_id = fields.String(validate=validate.Length(min=1, max=100), metadata={
        "description": "idempotency: a repeat with the same id changes nothing"})


class BookingEventPayloadSchema(Schema):
    """Payload of booking.created / confirmed / cancelled / expired (version 1)."""
    booking_id = fields.String(required=True)
    hall_id = fields.Integer(required=True)
    hall_name = fields.String(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    status = fields.String(required=True)
    price_total = fields.Integer(required=True)
    prepayment_amount = fields.Integer(required=True)
    amount_paid = fields.Integer(required=True)
    refund_due = fields.Integer()
    currency = fields.String(required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    # Added within version 1: until when an unpaid booking's slot is held (null once paid).
    hold_expires_at = fields.String(allow_none=True)
