"""Payments and refunds, the rules: what a booking owes, what a payment can give back, and how
the provider's word moves a payment. Pure: no I/O, no nameko, no database; unit-tested in
tests/unit/test_payments_domain.py.

The use cases (creating, webhooks, refunds) load rows, ask these functions what follows, and
write it with the event it announces in one transaction.
"""
from dataclasses import dataclass, field
from datetime import datetime

from contracts.errors.payments import (BookingNotPayable, PaymentNotRefundable,
                                       RefundExceedsPayment)

# A payment's status (PROVIDERS.md, "What all of them mean for us"); every adapter maps its
# provider's states onto the first six.
PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"
PARTIALLY_REFUNDED = "partially_refunded"
REFUNDED = "refunded"
PAYMENT_STATUSES = (PENDING, SUCCEEDED, FAILED, CANCELED, PARTIALLY_REFUNDED, REFUNDED)
# Ours alone: the provider took another amount than we asked for (an operator's matter).
AMOUNT_MISMATCH = "amount_mismatch"
SETTLED = (SUCCEEDED, PARTIALLY_REFUNDED, REFUNDED)  # money was taken
REFUNDABLE = (SUCCEEDED, PARTIALLY_REFUNDED)  # money is still held

# A refund's status.
REFUND_PENDING = "pending"  # sent (or about to be): its amount is reserved
REFUND_SUCCEEDED = "succeeded"
REFUND_FAILED = "failed"  # the provider refused it: its amount is free again

# What a payment is for.
PREPAYMENT, FULL, REMAINDER = "prepayment", "full", "remainder"
KIND_WORDS = {PREPAYMENT: "Prepayment", FULL: "Payment", REMAINDER: "Remainder"}
# The booking's statuses in which it takes money.
PAYABLE_BOOKING_STATUSES = ("pending_payment", "confirmed")

SUCCEEDED_EVENT = "payment.succeeded"
FAILED_EVENT = "payment.failed"
AMOUNT_MISMATCH_EVENT = "payment.amount_mismatch"
REFUNDED_EVENT = "payment.refunded"
REFUND_FAILED_EVENT = "payment.refund_failed"


# --- what is due ------------------------------------------------------------------------------

def amount_due(booking, kind, taken_here):
    """Kopecks a payment of this kind is for, from the booking alone; BookingNotPayable when
    it takes none. `taken_here` is what our own settled payments hold: a payment may have
    succeeded before the booking has recorded it, and it must not be asked for twice."""
    details = {"booking_id": booking["id"], "status": booking["status"], "kind": kind}
    if booking["status"] not in PAYABLE_BOOKING_STATUSES:
        raise BookingNotPayable(f"The booking is {booking['status']}: it takes no payment.",
                                details)
    paid = max(int(booking["amount_paid"]), int(taken_here))
    due = int(booking["price_total"]) - paid
    if due <= 0:
        raise BookingNotPayable("The booking is paid in full.", details)
    if kind == PREPAYMENT:
        if paid > 0:
            raise BookingNotPayable("A prepayment was made already: pay the remainder.",
                                    details)
        if int(booking["prepayment_amount"]) <= 0:
            raise BookingNotPayable("This booking takes no prepayment: pay in full.", details)
        return min(int(booking["prepayment_amount"]), due)
    if kind == REMAINDER and paid == 0:
        raise BookingNotPayable("Nothing was prepaid yet: pay the prepayment or in full.",
                                details)
    return due


def description(booking, kind):
    """What the payer sees at the provider (YooKassa takes at most 128 characters)."""
    start = str(booking.get("start") or "")[:16].replace("T", " ")
    return f"{KIND_WORDS[kind]}: {booking.get('hall_name') or 'studio'}, {start}"[:128]


# --- refunds ------------------------------------------------------------------------------------

def refundable(amount, refunded_amount, being_refunded):
    """Kopecks of a payment that can still be refunded: paid, minus refunded, minus what
    refunds under way have reserved."""
    return max(amount - refunded_amount - being_refunded, 0)


def refund_amount(payment, asked, being_refunded):
    """The kopecks a new refund of `payment` is for: `asked`, or all that is refundable when
    None. PaymentNotRefundable unless money is held; RefundExceedsPayment beyond it."""
    if payment.status not in REFUNDABLE:
        raise PaymentNotRefundable(f"A {payment.status} payment cannot be refunded.",
                                   {"payment_id": payment.id, "status": payment.status})
    left = refundable(payment.amount, payment.refunded_amount, being_refunded)
    amount = left if asked is None else asked
    if left <= 0 or amount > left:
        raise RefundExceedsPayment(f"At most {left} kopecks of this payment can be refunded.",
                                   {"amount": amount, "refundable": left})
    return amount


def count_refund(amount, refunded_amount, refund):
    """A succeeded refund of `refund` kopecks: (refunded total after, payment status after)."""
    refunded_amount += refund
    return refunded_amount, (REFUNDED if refunded_amount >= amount else PARTIALLY_REFUNDED)


def refund_went_through(reported_refunded, refunded_amount, refund):
    """For a provider whose refunds take no idempotency key: does the total it reports as
    refunded already cover what we counted plus this refund (an earlier send got through)?"""
    return reported_refunded is not None and reported_refunded >= refunded_amount + refund


# --- the provider's word ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settlement:
    """What the provider's word does to a payment: its status after, the event to record
    (None: nothing to announce), and kopecks refunded at the provider (in its dashboard, not
    through us) to record as a succeeded refund of ours."""

    status: str
    updated_at: datetime
    event: str | None = None
    event_details: dict = field(default_factory=dict)
    refunded_at_provider: int = 0
    warning: str | None = None

    @property
    def changes_anything(self):
        return self.event is not None or self.refunded_at_provider > 0


def settle(payment, provider_state, now, being_refunded=0):
    """Apply the provider's word on a payment: a verified notification, or the payment as
    fetched from the provider. The one rule for webhooks and reconciliation.

    Money the provider says was taken always wins: a payment we had given up on (failed or
    canceled) that the provider reports succeeded becomes succeeded. It never does unless
    the amount and currency are exactly what we asked for; otherwise it is amount_mismatch.
    Refunds are moved by refunding, except one the provider counts beyond ours and beyond
    those under way (`being_refunded`): that one was made in its dashboard. Settling the
    same word twice changes nothing.
    """
    state = provider_state
    if state.status == SUCCEEDED and payment.status in (PENDING, FAILED, CANCELED):
        if (state.amount, state.currency) != (payment.amount, payment.currency):
            return Settlement(AMOUNT_MISMATCH, now, AMOUNT_MISMATCH_EVENT,
                              {"reported_amount": state.amount,
                               "reported_currency": state.currency},
                              warning=f"the provider reports {state.amount} {state.currency}, "
                                      f"we asked for {payment.amount} {payment.currency}")
        status, updated_at, event = SUCCEEDED, now, SUCCEEDED_EVENT
    elif state.status in (FAILED, CANCELED) and payment.status == PENDING:
        return Settlement(state.status, now, FAILED_EVENT)
    elif state.status in (PARTIALLY_REFUNDED, REFUNDED) and payment.status == PENDING:
        return Settlement(payment.status, payment.updated_at,
                          warning="the provider reports refunds of a payment we never saw "
                                  "succeed; left for an operator")
    else:
        status, updated_at, event = payment.status, payment.updated_at, None
    extra = 0
    reported = getattr(state, "refunded_amount", None)
    if status in REFUNDABLE and reported is not None:
        extra = refundable(min(reported, payment.amount), payment.refunded_amount,
                           being_refunded)
    return Settlement(status, updated_at, event, refunded_at_provider=extra)
