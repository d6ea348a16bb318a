"""Closures of the studio's time over HTTP (`/api/admin/blocks`, `/api/admin/special-days`) and
RPC: blocks (a hall, or every hall, closed from one moment to another) and special days
(a date with hours of its own, for one hall or all)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.bounds import ROW_ID, Day, Moment

HOURS = ('["HH:MM", "HH:MM"] ("24:00" may close the day), or null: closed all day')


class NewBlockSchema(Schema):
    hall_id = fields.Integer(strict=True, validate=ROW_ID, load_default=None, allow_none=True,
                             metadata={"description": "null: every hall (a studio holiday)"})
    start = Moment(required=True, metadata={
        "description": "ISO-8601; a time without offset is the studio's local time"})
    end = Moment(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    force = fields.Boolean(load_default=False, metadata={
        "description": "make it even over active bookings (they stay, for the operator to "
                       "move or cancel); without it such a block is refused with the list"})


class BlockQuerySchema(Schema):
    date_from = Day(required=True)
    date_to = Day(required=True)
    hall_id = fields.Integer(validate=ROW_ID)


class BlockSchema(Schema):
    id = fields.String()
    hall_id = fields.Integer()
    hall_name = fields.String()
    start = fields.String()
    end = fields.String()
    reason = fields.String()
    created_by = fields.String(allow_none=True)
    created_at = fields.String()


class HitBookingSchema(Schema):
    id = fields.String()
    hall_id = fields.Integer()
    start = fields.String()
    end = fields.String()
    status = fields.String()
    customer_name = fields.String()


class MadeBlocksSchema(Schema):
    blocks = fields.List(fields.Nested(BlockSchema))
    bookings_hit = fields.List(fields.Nested(HitBookingSchema), metadata={
        "description": "active bookings inside the block (made with force): move or cancel them"})


class BlockListSchema(Schema):
    items = fields.List(fields.Nested(BlockSchema))


class BlockEventPayloadSchema(Schema):
    """Payload of hall.blocked / hall.unblocked (version 1)."""
    block_id = fields.String(required=True)
    hall_id = fields.Integer(required=True)
    hall_name = fields.String(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    reason = fields.String(required=True)
    by = fields.String(allow_none=True, metadata={"description": "the operator"})


class SpecialDayEditSchema(Schema):
    hall_id = fields.Integer(strict=True, validate=ROW_ID, load_default=None, allow_none=True,
                             metadata={"description": "null: every hall"})
    hours = fields.List(fields.String(validate=validate.Length(max=5)), allow_none=True,
                        required=True, metadata={"description": HOURS})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def _two_times(self, data, **kwargs):
        if data.get("hours") is not None and len(data["hours"]) != 2:
            raise ValidationError("[opens, closes], or null for closed", "hours")


class SpecialDayQuerySchema(Schema):
    date_from = Day(required=True)
    date_to = Day(required=True)


class SpecialDayKeySchema(Schema):
    hall_id = fields.Integer(validate=ROW_ID, load_default=None)


class SpecialDaySchema(Schema):
    day = fields.String()
    hall_id = fields.Integer(allow_none=True)
    hours = fields.List(fields.String(), allow_none=True)
    note = fields.String(allow_none=True)
    bookings_outside = fields.List(fields.Nested(HitBookingSchema), metadata={
        "description": "(on a change) active bookings outside the new hours: the operator's "
                       "to move or cancel"})


class SpecialDayListSchema(Schema):
    items = fields.List(fields.Nested(SpecialDaySchema))
