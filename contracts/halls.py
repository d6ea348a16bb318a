"""The halls editor over HTTP (`/api/admin/halls`, owner). The booking service checks the
tariff and opening hours themselves (422 with the reason)."""
from marshmallow import Schema, fields, validate

TARIFF = ("{hourly_price (kopecks), currency?, rules: [{weekdays: [0..6, Monday = 0], start: "
          "'HH:MM', end: 'HH:MM', hourly_price}]}; the last matching rule wins")
HOURS = "{default?: [open, close], mon..sun?: [open, close] or null (closed)}; null: the studio's"


class HallEditSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=1000))
    buffer_minutes = fields.Integer(strict=True, validate=validate.Range(min=0, max=240))
    opening_hours = fields.Dict(allow_none=True, metadata={"description": HOURS})
    tariff = fields.Dict(metadata={"description": TARIFF})
    active = fields.Boolean()


class NewHallSchema(HallEditSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1,
                                                                                  max=1000))
    tariff = fields.Dict(required=True, metadata={"description": TARIFF})


class HallDetailSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    capacity = fields.Integer()
    hourly_price = fields.Integer()
    buffer_minutes = fields.Integer()
    active = fields.Boolean()
    opening_hours = fields.Dict(allow_none=True)
    tariff = fields.Dict()


class PricePreviewRequestSchema(Schema):
    tariff = fields.Dict(required=True, metadata={"description": TARIFF})
    opening_hours = fields.Dict(load_default=None, allow_none=True,
                                metadata={"description": HOURS})


class PriceRunSchema(Schema):
    start = fields.String()
    end = fields.String()
    hourly_price = fields.Integer()


class PriceDaySchema(Schema):
    weekday = fields.Integer(metadata={"description": "0 = Monday"})
    open = fields.Boolean()
    prices = fields.List(fields.Nested(PriceRunSchema))
