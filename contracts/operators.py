"""The operators contract: accounts, sign-in sessions and the audit trail, over RPC
(`integration`) and HTTP (`/api/admin/...`). Field names are public."""
from marshmallow import Schema, fields, validate

from contracts.booking import BookingSchema, CreateBookingSchema
from contracts.payments import GATEWAYS, CreatedPaymentSchema

# owner: everything (halls, tariffs, reports, operators); manager: bookings, desk payments,
# cancellations, refunds up to OPERATORS.manager_refund_limit; viewer: reads only.
ROLES = ("owner", "manager", "viewer")
RANK = {"viewer": 0, "manager": 1, "owner": 2}
# The machine token (ADMIN_TOKEN) acts as this operator.
TOKEN_OPERATOR = "token"
# An audit entry's outcome from before its change is made until it is answered.
AUDIT_PENDING = "pending"

NAME = validate.Regexp(r"^[\w.@-]{2,64}$", error="2-64 letters, digits, '.', '@', '-', '_'")
PASSWORD = validate.Length(min=10, max=200)


def role_allows(role, needed):
    """Whether an operator with `role` may do what needs `needed`."""
    return RANK.get(role, -1) >= RANK[needed]


class SignInSchema(Schema):
    """Either name + password (a person) or token (the machine ADMIN_TOKEN)."""
    name = fields.String(validate=validate.Length(min=1, max=64))
    password = fields.String(validate=validate.Length(min=1, max=200))
    token = fields.String(validate=validate.Length(min=1, max=500))


class OperatorSchema(Schema):
    name = fields.String()
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    created_at = fields.String(allow_none=True)


class SessionSchema(Schema):
    operator = fields.Nested(OperatorSchema)
    csrf_token = fields.String(metadata={
        "description": "send it back as the X-CSRF-Token header on every state-changing "
                       "request made with the session cookie"})
    expires_at = fields.String(metadata={"description": "when the session ends unless used"})


class CreateOperatorSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    password = fields.String(required=True, validate=PASSWORD)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UpdateOperatorSchema(Schema):
    password = fields.String(validate=PASSWORD)
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean(metadata={"description": "false: the operator can no longer sign "
                                                     "in, and their sessions end"})


class AuditQuerySchema(Schema):
    booking_id = fields.String(validate=validate.Length(min=1, max=100))
    operator = fields.String(validate=validate.Length(min=1, max=64))
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.String(metadata={"description": "when (UTC)"})
    operator = fields.String(metadata={"description": "who ('token' for the machine token)"})
    role = fields.String(allow_none=True)
    action = fields.String(metadata={"description": "what, e.g. cancel_booking, sign_in"})
    target = fields.String(allow_none=True, metadata={"description": "what it was done to"})
    booking_id = fields.String(allow_none=True)
    details = fields.Dict(metadata={"description": "the request's fields (never a password)"})
    outcome = fields.String(metadata={"description": "ok, or the error code it was refused "
                                                     "with; pending while it is being made "
                                                     "(or if its end was never heard)"})
    ip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


class PhoneBookingSchema(CreateBookingSchema):
    """A booking an operator takes by phone: held like any other; with payment=link the
    customer is sent a payment link through their channels (e-mail, Telegram)."""
    payment = fields.String(required=True, validate=validate.OneOf(("desk", "link")),
                            metadata={"description": "desk: paid at the studio (the card's "
                                                     "desk payment); link: a payment link"})
    kind = fields.String(load_default="prepayment",
                         validate=validate.OneOf(("prepayment", "full")))
    gateway = fields.String(load_default="mock", validate=validate.OneOf(GATEWAYS))


class PhoneBookingAnswerSchema(Schema):
    booking = fields.Nested(BookingSchema)
    payment = fields.Nested(CreatedPaymentSchema, allow_none=True)
    sent_to = fields.List(fields.String(), metadata={
        "description": "channels the payment link went to"})
