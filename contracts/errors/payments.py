"""The failures of the payments service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import (
    AccessDenied,
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
)

__all__ = [
    "BookingNotPayable",
    "CheckoutClosed",
    "IdempotencyKeyReused",
    "InvalidCardNumber",
    "PaymentInProgress",
    "PaymentNotFound",
    "PaymentNotRefundable",
    "PaymentProviderFailed",
    "ReceiptContactMissing",
    "RefundExceedsPayment",
    "UnknownGateway",
    "WebhookForged",
]


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class UnknownGateway(NotFound):
    """No such payment gateway here (or not in this PAYMENT_ENV, like the mock in production)."""

    code = "unknown_gateway"


class BookingNotPayable(Conflict):
    """The booking takes no payment of this kind now: cancelled, expired, completed, paid in
    full, or (for a prepayment) paid already."""

    code = "booking_not_payable"


class PaymentInProgress(Conflict):
    """An identical request is being sent to the provider right now; try again shortly."""

    code = "payment_in_progress"


class PaymentNotRefundable(Conflict):
    """Only a succeeded (or partly refunded) payment can be refunded."""

    code = "payment_not_refundable"


class RefundExceedsPayment(Conflict):
    """More than was paid minus what was refunded already (or is being refunded)."""

    code = "refund_exceeds_payment"


class CheckoutClosed(Conflict):
    """The mock checkout of a payment that is no longer pending."""

    code = "checkout_closed"


class InvalidCardNumber(InvalidRequest):
    code = "validation_error"


class WebhookForged(AccessDenied):
    """A provider notification that could not be proven genuine; nothing was changed."""

    code = "webhook_forged"


class PaymentProviderFailed(ServiceUnavailable):
    """The payment provider refused or did not answer; nothing was charged by this request."""

    code = "payment_provider_unavailable"


class ReceiptContactMissing(InvalidRequest):
    """Fiscal receipts are on, and the customer gave neither an e-mail nor a phone number a
    receipt can be sent to."""

    code = "receipt_contact_required"
