"""The payments contract: HTTP bodies, RPC payloads and event payloads (field names are public)."""
from marshmallow import Schema, fields, validate

from contracts import paging

PAYMENT_KINDS = ("prepayment", "full", "remainder")
GATEWAYS = ("yookassa", "sberpay", "tinkoff", "mock")
PAYMENT_STATUSES = ("pending", "succeeded", "failed", "canceled", "partially_refunded",
                    "refunded", "amount_mismatch")
REFUND_STATUSES = ("pending", "succeeded", "failed")
KOPECKS = {"description": "kopecks"}


class CreatePaymentSchema(Schema):
    booking_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PAYMENT_KINDS), metadata={
        "description": "prepayment (nothing paid yet), full (everything still due) or "
                       "remainder (what is due after a prepayment); the amount always comes "
                       "from the booking"})
    gateway = fields.String(required=True, validate=validate.OneOf(GATEWAYS), metadata={
        "description": "with PAYMENT_ENV=mock every gateway is served by the local mock"})
    return_url = fields.Url(load_default=None, allow_none=True, require_tld=False,
                            schemes={"http", "https"},
                            validate=validate.Length(max=2000), metadata={
                                "description": "where the payer returns after paying"})


class CreatedPaymentSchema(Schema):
    id = fields.String()
    booking_id = fields.String()
    kind = fields.String()
    amount = fields.Integer(metadata=KOPECKS)
    currency = fields.String()
    gateway = fields.String()
    status = fields.String(validate=validate.OneOf(PAYMENT_STATUSES))
    confirmation_url = fields.String(allow_none=True, metadata={
        "description": "send the payer here"})


class RefundSchema(Schema):
    id = fields.String()
    payment_id = fields.String()
    amount = fields.Integer(metadata=KOPECKS)
    status = fields.String(validate=validate.OneOf(REFUND_STATUSES))
    reason = fields.String(allow_none=True)
    request_id = fields.String()
    created_at = fields.String()


class PaymentSchema(CreatedPaymentSchema):
    refunded_amount = fields.Integer(metadata=KOPECKS)
    provider_payment_id = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    refunds = fields.List(fields.Nested(RefundSchema))


class PaymentListQuerySchema(Schema):
    booking_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(PAYMENT_STATUSES))
    limit = paging.limit()


class PaymentListSchema(Schema):
    items = fields.List(fields.Nested(PaymentSchema))


class RefundRequestSchema(Schema):
    amount = fields.Integer(strict=True, load_default=None, allow_none=True,
                            validate=validate.Range(min=1), metadata={
                                "description": "kopecks; default: everything not yet refunded"})
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500))


class RefundResultSchema(Schema):
    """The answer of a refund: the refund and the payment after it."""
    refund = fields.Nested(RefundSchema)
    payment = fields.Nested(PaymentSchema)


class RefundBookingSchema(Schema):
    """RPC refund_booking's input."""
    booking_id = fields.UUID(required=True)
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500))
    request_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RefundBookingResultSchema(Schema):
    booking_id = fields.String()
    request_id = fields.String()
    amount = fields.Integer(metadata=KOPECKS)
    refunded = fields.Integer(metadata={"description": "kopecks refunded (or on their way)"})
    not_covered = fields.Integer(metadata={
        "description": "kopecks no online payment of the booking could cover (an operator's "
                       "matter: desk money, or a refund still pending)"})
    refunds = fields.List(fields.Nested(RefundSchema))


class PaymentEventPayloadSchema(Schema):
    """Payload of payment.succeeded / payment.failed / payment.refunded (version 1).

    payment.failed covers a decline (status failed), a payment the provider canceled and one
    nobody paid within PAYMENTS.pending_lifetime_minutes (status canceled).
    payment.refunded adds refund_id and refund_amount (this refund; refunded_amount is the
    total so far); so does payment.refund_failed (an operator alert: the provider refused
    that refund). payment.amount_mismatch (an operator alert) adds reported_amount and
    reported_currency: what the provider said was paid.
    """
    payment_id = fields.String(required=True)
    booking_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PAYMENT_KINDS))
    amount = fields.Integer(required=True, metadata=KOPECKS)
    currency = fields.String(required=True)
    gateway = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYMENT_STATUSES))
    refunded_amount = fields.Integer(required=True, metadata=KOPECKS)
    refund_id = fields.String()
    refund_amount = fields.Integer(metadata=KOPECKS)
    reported_amount = fields.Integer(allow_none=True, metadata=KOPECKS)
    reported_currency = fields.String(allow_none=True)
