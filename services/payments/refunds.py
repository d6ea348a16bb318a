"""Refunds: reserved before they are sent, sent between transactions, counted once the
provider confirms, asked after while pending; and a booking's refund spread over its payments.
Idempotent by request_id throughout."""
import logging
import uuid

from contracts.errors.payments import (
    IdempotencyKeyReused,
    PaymentNotRefundable,
    PaymentProviderFailed,
    RefundExceedsPayment,
    UnknownGateway,
)
from contracts.payments import RefundBookingSchema, RefundRequestSchema
from services.common.input import load, uuid_or_none
from services.payments import domain, receipts, store, views
from services.payments.models import RefundRow
from services.payments.providers import ProviderError, ProviderRefund

log = logging.getLogger(__name__)


def refund(sessions, gateways, payment_id, now, amount=None, reason=None, request_id=None,
           batch_request_id=None):
    """Refund `amount` kopecks of a payment (default: all not yet refunded) through its
    provider. Idempotent by request_id: a repeat returns the same refund, and re-sends it
    (with the same provider key) while it is still pending."""
    data = load(RefundRequestSchema, {"amount": amount, "reason": reason})
    with sessions() as session:
        existing = store.refund_by_request(session, request_id) if request_id else None
        if existing is None:
            row = store.load_payment(session, payment_id, for_update=True)
            existing, retry = _reserve_refund(session, row, data["amount"], data["reason"],
                                              request_id, batch_request_id, now)
        else:
            retry = True
            if (existing.payment_id != uuid_or_none(payment_id)
                    or (data["amount"] is not None and data["amount"] != existing.amount)):
                raise IdempotencyKeyReused("This request id was used for another refund.",
                                           {"request_id": request_id})
        refund_id, status = existing.id, existing.status
        if status != domain.REFUND_PENDING:
            return _refund_result(session, refund_id)
    return _send_refund(sessions, gateways, refund_id, now, retry)


def _reserve_refund(session, payment, amount, reason, request_id, batch_request_id, now):
    """A pending refund row that reserves its amount; (row, is it a repeat?)."""
    amount = domain.refund_amount(payment, amount,
                                  store.amount_being_refunded(session, payment.id))
    refund_id = str(uuid.uuid4())
    row = RefundRow(id=refund_id, payment_id=payment.id, amount=amount,
                    status=domain.REFUND_PENDING, reason=reason,
                    request_id=request_id or refund_id, batch_request_id=batch_request_id,
                    provider_state={}, created_at=now, updated_at=now)
    if store.insert_refund(session, row):
        return row, False
    return store.refund_by_request(session, request_id), True


def _send_refund(sessions, gateways, refund_id, now, retry):
    with sessions() as session:
        refund_row = session.get(RefundRow, refund_id)
        payment = store.load_payment(session, refund_row.payment_id)
    provider = gateways.adapter(payment.provider)
    try:
        result = None
        if retry and not provider.refunds_idempotent:
            result = _refund_seen_by_provider(provider, payment, refund_row)
        elif retry and refund_row.provider_refund_id:
            result = provider.fetch_refund(refund_row.provider_refund_id)
        if result is None:
            result = provider.refund(refund_row.id, payment.provider_payment_id,
                                     refund_row.amount, payment.currency,
                                     receipt=receipts.refund_receipt(payment.receipt,
                                                                     refund_row.amount))
    except ProviderError as exc:
        log.warning("refund %s of payment %s: %s", refund_id, payment.id, exc)
        raise PaymentProviderFailed(
            "The provider did not confirm the refund. It stays pending (its amount reserved); "
            "repeat the request with the same request id to send it again.",
            {"refund_id": refund_id, "request_id": refund_row.request_id}) from None
    with sessions() as session:
        payment = store.load_payment(session, payment.id, for_update=True)
        refund_row = session.get(RefundRow, refund_id, with_for_update=True)
        if refund_row.status == domain.REFUND_PENDING:
            apply_refund_result(session, payment, refund_row, result, now)
        return _refund_result(session, refund_id)


def apply_refund_result(session, payment, refund_row, result, now):
    refund_row.provider_refund_id = result.provider_refund_id
    refund_row.provider_state = result.raw or {}
    refund_row.updated_at = now
    if result.status == domain.REFUND_SUCCEEDED:
        refund_row.status = domain.REFUND_SUCCEEDED
        _count_refund(session, payment, refund_row, now)
    elif result.status == domain.REFUND_FAILED:
        refund_row.status = domain.REFUND_FAILED  # the reservation is released
        log.error("refund %s of payment %s: the provider refused it", refund_row.id,
                  payment.id)
        views.record(session, domain.REFUND_FAILED_EVENT, payment, refund_id=refund_row.id,
                     refund_amount=refund_row.amount)
    # else the provider is still working on it: it stays pending, its amount reserved


def _count_refund(session, payment, refund_row, now):
    """A succeeded refund moves the payment's refunded total and status, announced."""
    payment.refunded_amount, payment.status = domain.count_refund(
        payment.amount, payment.refunded_amount, refund_row.amount)
    payment.updated_at = now
    views.record(session, domain.REFUNDED_EVENT, payment, refund_id=refund_row.id,
                 refund_amount=refund_row.amount)


def record_refund_made_at_provider(session, payment, amount, raw, now):
    """The provider counts `amount` kopecks more refunded than we have, even with our refunds
    under way: someone refunded in the provider's dashboard. Recorded as a succeeded refund,
    so the payment, what is still refundable and the customer's message agree with it."""
    log.warning("payment %s: %d kopecks refunded at the provider, not through us", payment.id,
                amount)
    refund_id = str(uuid.uuid4())
    refund_row = RefundRow(id=refund_id, payment_id=payment.id, amount=amount,
                           status=domain.REFUND_SUCCEEDED, reason="refunded at the provider",
                           request_id=f"provider:{refund_id}", provider_state=raw or {},
                           created_at=now, updated_at=now)
    session.add(refund_row)
    _count_refund(session, payment, refund_row, now)


def reconcile_refunds(sessions, gateways, settings, now, limit=50):
    """Refunds still pending reconcile_after since their last word from the provider (the
    provider was slow, or did not answer): ask again, by the refund's own id where the
    provider has one, else by sending it again under the same key. Returns
    {refund_id: status after}."""
    with sessions() as session:
        due = store.pending_refunds_due(session, now - settings.reconcile_after, limit)
    outcomes = {}
    for refund_id in due:
        try:
            outcomes[refund_id] = _send_refund(sessions, gateways, refund_id, now,
                                               retry=True)["refund"]["status"]
        except (PaymentProviderFailed, UnknownGateway) as exc:
            log.warning("reconcile: refund %s not settled: %s", refund_id, exc)
            outcomes[refund_id] = domain.REFUND_PENDING
            with sessions() as session:  # not again before the next reconcile_after
                session.get(RefundRow, refund_id, with_for_update=True).updated_at = now
    return outcomes


def _refund_seen_by_provider(provider, payment, refund_row):
    """For a provider without refund idempotency: did an earlier send of this refund get
    through? Its payment shows the refunded total; if that covers what we recorded plus this
    refund, the refund is done and is not sent again."""
    state = provider.fetch(payment.provider_payment_id)
    if domain.refund_went_through(state.refunded_amount, payment.refunded_amount,
                                  refund_row.amount):
        return ProviderRefund(provider_refund_id=None, status=domain.REFUND_SUCCEEDED,
                              amount=refund_row.amount, raw=state.raw)
    return None


def _refund_result(session, refund_id):
    refund_row = session.get(RefundRow, refund_id)
    payment = store.load_payment(session, refund_row.payment_id)
    return {"refund": views.refund_view(refund_row),
            "payment": views.payment_view(payment, store.refunds_of(session, payment.id))}


def refund_booking(sessions, gateways, booking_id, amount, reason, request_id, now):
    """Refund `amount` kopecks of a booking across its succeeded payments, newest first,
    until it is covered. Idempotent by request_id: a repeat sends nothing new for money
    already refunded, and re-sends parts still pending. Raises PaymentProviderFailed (retry
    later) while a part could not be confirmed; reports `not_covered` when the booking's
    online payments cannot cover the amount (desk money, or an operator's matter)."""
    data = load(RefundBookingSchema, {"booking_id": booking_id, "amount": amount,
                                      "reason": reason, "request_id": request_id})
    booking_id, request_id = str(data["booking_id"]), data["request_id"]
    unconfirmed = []
    for part in _batch_refunds(sessions, request_id):
        if part.status == domain.REFUND_PENDING:
            try:
                refund(sessions, gateways, part.payment_id, now, request_id=part.request_id)
            except PaymentProviderFailed:
                unconfirmed.append(part.id)
    with sessions() as session:
        payment_ids = [row.id for row in store.refundable_payments(session, booking_id)]
    for payment_id in payment_ids:
        parts = _batch_refunds(sessions, request_id)
        remaining = data["amount"] - sum(p.amount for p in parts
                                          if p.status != domain.REFUND_FAILED)
        if remaining <= 0:
            break
        if any(p.payment_id == payment_id for p in parts):
            continue  # this payment's part was decided by an earlier call
        with sessions() as session:
            row = store.load_payment(session, payment_id)
            refundable = domain.refundable(row.amount, row.refunded_amount,
                                           store.amount_being_refunded(session, payment_id))
        if refundable <= 0:
            continue
        try:
            refund(sessions, gateways, payment_id, now, amount=min(remaining, refundable),
                   reason=data["reason"], request_id=f"{request_id}:{payment_id}",
                   batch_request_id=request_id)
        except (RefundExceedsPayment, PaymentNotRefundable):
            continue  # changed under us; the next payment takes the rest
        except PaymentProviderFailed:
            unconfirmed.append(payment_id)
    parts = _batch_refunds(sessions, request_id)
    refunded = sum(p.amount for p in parts if p.status != domain.REFUND_FAILED)
    if unconfirmed:
        raise PaymentProviderFailed("Some refunds of the booking are not confirmed by the "
                                    "provider yet; repeat with the same request_id.",
                                    {"booking_id": booking_id, "request_id": request_id})
    result = {"booking_id": booking_id, "request_id": request_id, "amount": data["amount"],
              "refunded": refunded, "not_covered": max(data["amount"] - refunded, 0),
              "refunds": [views.refund_view(p) for p in parts]}
    if result["not_covered"]:
        log.warning("booking %s: %d kopecks of refund %s are not covered by its payments",
                    booking_id, result["not_covered"], request_id)
    return result


def _batch_refunds(sessions, request_id):
    with sessions() as session:
        return store.batch_refunds(session, request_id)
