"""The operators' reports and problems over HTTP (`/api/admin/...`). Money in kopecks."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

MAX_REPORT_DAYS = 366
CONSUMERS = ("payments", "integration", "notifications")   # services with an inbox


class ReportQuerySchema(Schema):
    date_from = fields.Date(required=True, metadata={"description": "first local day"})
    date_to = fields.Date(required=True, metadata={"description": "last local day (included)"})

    @validates_schema
    def _a_range(self, data, **kwargs):
        days = (data["date_to"] - data["date_from"]).days
        if days < 0:
            raise ValidationError("must not be before date_from", "date_to")
        if days >= MAX_REPORT_DAYS:
            raise ValidationError(f"at most {MAX_REPORT_DAYS} days", "date_to")


class MoneySchema(Schema):
    money_in = fields.Integer(metadata={"description": "payments that succeeded, kopecks"})
    refunds = fields.Integer(metadata={"description": "refunds that succeeded, kopecks"})
    net = fields.Integer(metadata={"description": "money_in - refunds"})


class DayTakingsSchema(MoneySchema):
    date = fields.String()


class ProviderTakingsSchema(MoneySchema):
    provider = fields.String()


class HallTakingsSchema(MoneySchema):
    hall_id = fields.Integer(allow_none=True)
    hall_name = fields.String(allow_none=True)


class TakingsSchema(Schema):
    date_from = fields.String()
    date_to = fields.String()
    currency = fields.String()
    total = fields.Nested(MoneySchema)
    by_day = fields.List(fields.Nested(DayTakingsSchema), metadata={
        "description": "every day of the range, oldest first (zeros included)"})
    by_provider = fields.List(fields.Nested(ProviderTakingsSchema))
    by_hall = fields.List(fields.Nested(HallTakingsSchema))


class HeatCellSchema(Schema):
    weekday = fields.Integer(metadata={"description": "0 = Monday"})
    hour = fields.Integer(metadata={"description": "local hour 0-23"})
    percent = fields.Float(metadata={"description": "share of that hour's quarter hours "
                                                    "booked over the range"})


class HallOccupancySchema(Schema):
    hall_id = fields.Integer()
    hall_name = fields.String()
    open_minutes = fields.Integer()
    booked_minutes = fields.Integer()
    bookings = fields.Integer()
    occupancy_percent = fields.Float()
    heat = fields.List(fields.Nested(HeatCellSchema), metadata={
        "description": "only the cells with bookings"})


class OccupancySchema(Schema):
    date_from = fields.String()
    date_to = fields.String()
    timezone = fields.String()
    halls = fields.List(fields.Nested(HallOccupancySchema))


class InboxEventSchema(Schema):
    service = fields.String(validate=validate.OneOf(CONSUMERS))
    event_id = fields.String()
    handler = fields.String()
    type = fields.String()
    source = fields.String()
    status = fields.String(metadata={"description": "dead (waits for an operator) or failed "
                                                    "(will be tried again)"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)
    booking_id = fields.String(allow_none=True)


class ProblemsSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "dead_events, failed_events, pending_payments, failed_refunds, "
                       "failed_notifications, total (the menu's badge)"})
    dead_events = fields.List(fields.Nested(InboxEventSchema))
    failed_events = fields.List(fields.Nested(InboxEventSchema))
    pending_payments = fields.List(fields.Dict())
    failed_refunds = fields.List(fields.Dict())
    failed_notifications = fields.List(fields.Dict())
    unavailable = fields.List(fields.String(), metadata={
        "description": "services that did not answer: their problems are missing"})


class RetryOutcomeSchema(Schema):
    service = fields.String()
    event_id = fields.String()
    outcomes = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "handler -> done | failed | dead | skipped"})
