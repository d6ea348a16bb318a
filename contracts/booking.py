"""The booking contract: HTTP bodies, RPC payloads and event payloads (field names are public)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts import paging
from contracts.bounds import EMAIL, ROW_ID, Day, Moment

BOOKING_STATUSES = ("pending_payment", "confirmed", "cancelled", "expired", "completed")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()\-]{5,22}[0-9]$",
                        error="Not a phone number: digits, optionally +, spaces, (), -.")
TELEGRAM_CHAT_ID = validate.Regexp(r"^-?[0-9]{1,20}$", error="A Telegram chat id is a number.")


class CustomerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    phone = fields.String(required=True, validate=PHONE)
    email = fields.Email(load_default=None, allow_none=True, validate=EMAIL)
    telegram_chat_id = fields.String(load_default=None, allow_none=True,
                                     validate=TELEGRAM_CHAT_ID)

    @validates_schema
    def _name_is_not_blank(self, data, **kwargs):
        if not data.get("name", "x").strip():
            raise ValidationError("The name cannot be blank.", "name")


class CreateBookingSchema(Schema):
    hall_id = fields.Integer(required=True, strict=True, validate=ROW_ID)
    start = Moment(required=True, metadata={
        "description": "ISO-8601; a time without offset is the studio's local time"})
    end = Moment(required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=1000))


class HallSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    capacity = fields.Integer()
    hourly_price = fields.Integer(metadata={"description": "base price per hour, kopecks"})
    currency = fields.String()
    buffer_minutes = fields.Integer(metadata={"description": "cleaning time kept after a booking"})
    tariff_rules = fields.List(fields.Dict(), metadata={
        "description": "[{weekdays: [0..6, Monday = 0], start, end, hourly_price}]; the last "
                       "matching rule wins over hourly_price"})
    opening_hours = fields.Dict(metadata={
        "description": "{mon..sun: [open, close] local time, or null when closed}"})


class AvailabilityQuerySchema(Schema):
    hall_id = fields.Integer(required=True, validate=ROW_ID)
    start_date = Day(required=True)
    end_date = Day(required=True)


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
    hall_id = fields.Integer(required=True, validate=ROW_ID)
    start = Moment(required=True)
    end = Moment(required=True)


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
    updated_at = fields.String()
    revision = fields.Integer(metadata={
        "description": "grows with every change of the booking (a calendar's SEQUENCE)"})


class DeskPaymentSchema(Schema):
    payment_id = fields.String()
    amount = fields.Integer()
    taken_at = fields.String()


class OneBookingSchema(BookingSchema):
    desk_payments = fields.List(fields.Nested(DeskPaymentSchema), metadata={
        "description": "money an operator took for it at the studio's desk, oldest first"})


class CreatedBookingSchema(BookingSchema):
    access_token = fields.String(metadata={
        "description": "shown once: the customer's key to this booking (Bearer token)"})


class BookingListQuerySchema(Schema):
    hall_id = fields.Integer(validate=ROW_ID)
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    date_from = Day()
    date_to = Day()
    cursor = paging.cursor()
    limit = paging.limit()


class BookingListSchema(Schema):
    items = fields.List(fields.Nested(BookingSchema))
    next_cursor = paging.next_cursor()


class CancelBookingSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500),
                           metadata={"description": "why (an operator's cancellation)"})


class RescheduleBookingSchema(Schema):
    hall_id = fields.Integer(strict=True, validate=ROW_ID, metadata={
        "description": "the hall to move to; default: the booking's own"})
    start = Moment(required=True, metadata={
        "description": "ISO-8601; a time without offset is the studio's local time"})
    end = Moment(required=True)
    keep_price = fields.Boolean(load_default=False, metadata={
        "description": "an operator's choice: the old price stays whatever the new time costs"})
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500))


class RescheduledBookingSchema(BookingSchema):
    refund_due = fields.Integer(metadata={
        "description": "kopecks paid beyond the new price, refunded to the customer"})


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
    revision = fields.Integer(metadata={
        "description": "grows with every change of the booking (a calendar's SEQUENCE)"})


class PreviousTimeSchema(Schema):
    hall_id = fields.Integer(required=True)
    hall_name = fields.String(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    price_total = fields.Integer(required=True)


class BookingRescheduledPayloadSchema(BookingEventPayloadSchema):
    """Payload of booking.rescheduled (version 1): the booking as it is now, and where it was."""
    previous = fields.Nested(PreviousTimeSchema, required=True, metadata={
        "description": "the hall, times and price before the move"})
    refund_due = fields.Integer(required=True, metadata={
        "description": "kopecks paid beyond the new price: they go back to the customer"})
    rescheduled_by = fields.String(required=True, validate=validate.OneOf(("customer",
                                                                           "operator")))
    reason = fields.String(allow_none=True)


class HallFeedTokenSchema(Schema):
    hall_id = fields.Integer()
    feed_token = fields.String(allow_none=True, metadata={
        "description": "shown once; null when the feed is closed"})
    feed_url = fields.String(metadata={"description": "the address to subscribe to"})
