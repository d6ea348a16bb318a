"""The mock provider's own side (PAYMENT_ENV=mock): its checkout page, the outcome a test card
leads to, the state its `fetch` answers with, and the delivery of its signed webhooks."""
import logging
from datetime import timedelta

from contracts.errors.payments import CheckoutClosed, InvalidCardNumber, PaymentNotFound
from services.payments import domain, store
from services.payments.config import MOCK
from services.payments.models import MockCheckoutRow
from services.payments.providers.mock import (
    DECLINED_CARD,
    PAYING_CARD,
    SIGNATURE_HEADER,
    build_notification,
    card_outcome,
    sign,
)

log = logging.getLogger(__name__)

MOCK_DELIVERY_LEASE_SECONDS = 30
MOCK_DELIVERY_MAX_ATTEMPTS = 8


def checkout_cards():
    """The test cards of the checkout page: {paying, declined}."""
    return {"paying": PAYING_CARD, "declined": DECLINED_CARD}


def _mock_payment(session, gateways, payment_id, for_update=False):
    """(the payment, its checkout or None), the payment locked with for_update."""
    gateways.adapter(MOCK)  # UnknownGateway outside mock mode
    row, checkout = store.payment_and_mock_checkout(session, payment_id, for_update)
    if row.provider != MOCK:
        raise PaymentNotFound(f"There is no mock checkout for payment {payment_id}.",
                              {"payment_id": payment_id})
    return row, checkout


def mock_checkout_page(sessions, gateways, payment_id):
    """What the mock checkout page shows."""
    with sessions() as session:
        row, checkout = _mock_payment(session, gateways, payment_id)
        return {"payment_id": row.id, "description": row.description, "amount": row.amount,
                "currency": row.currency, "status": row.status, "return_url": row.return_url,
                "outcome": checkout.outcome if checkout else None,
                "test_cards": checkout_cards()}


def mock_checkout(sessions, gateways, settings, payment_id, card_number, now):
    """The payer submits a test card: the outcome is recorded as the mock provider's own
    state, with its signed webhook leased to the first try right after the commit (the timer
    tries again if that one does not get through). Repeating returns the first outcome.
    Returns ({payment_id, outcome, return_url}, the first delivery or None for a repeat)."""
    with sessions() as session:
        row, checkout = _mock_payment(session, gateways, payment_id, for_update=True)
        if checkout is not None:
            return {"payment_id": row.id, "outcome": checkout.outcome,
                    "return_url": row.return_url}, None
        if row.status != domain.PENDING:
            raise CheckoutClosed(f"This payment is {row.status}.",
                                 {"payment_id": row.id, "status": row.status})
        try:
            outcome = card_outcome(card_number or "")
        except ValueError as exc:
            raise InvalidCardNumber("This is not one of the test cards.",
                                    {"card_number": [str(exc)]}) from None
        body, _ = build_notification(row.id, outcome, row.amount, row.currency,
                                     settings.mock_webhook_secret)
        session.add(MockCheckoutRow(
            payment_id=row.id, outcome=outcome, amount=row.amount, currency=row.currency,
            notification=body.decode(), attempts=1, created_at=now,
            next_attempt_at=now + timedelta(seconds=MOCK_DELIVERY_LEASE_SECONDS)))
        return ({"payment_id": row.id, "outcome": outcome, "return_url": row.return_url},
                (row.id, body, 1))


def mock_state(session, payment_id):
    """The mock provider's answer to a fetch: the outcome recorded at its checkout."""
    try:
        row, checkout = store.payment_and_mock_checkout(session, payment_id)
    except PaymentNotFound:
        return None
    if checkout is None:
        return {"status": domain.PENDING, "amount": row.amount, "currency": row.currency}
    return {"status": checkout.outcome, "amount": checkout.amount,
            "currency": checkout.currency}


def deliver_mock_webhooks(sessions, settings, post, now, deliveries=None, limit=20):
    """Deliver mock webhooks over HTTP, signed at sending time: `deliveries` (the first try
    of a checkout, leased to the caller by mock_checkout), else those due, claimed here.
    Failures are retried with backoff and given up after MOCK_DELIVERY_MAX_ATTEMPTS
    (reconciliation settles those from the recorded outcome). `post(url, body, headers)`
    returns the HTTP status. Returns how many were tried."""
    if deliveries is None:
        with sessions() as session:
            deliveries = [(row.payment_id, row.notification.encode(), row.attempts)
                          for row in store.claim_mock_deliveries(
                              session, now, MOCK_DELIVERY_LEASE_SECONDS, limit)]
    for payment_id, body, attempts in deliveries:
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(settings.mock_webhook_secret, body, now.timestamp())}
        try:
            status = post(settings.mock_webhook_url, body, headers)
            error = None if status == 200 else f"HTTP {status}"
        except Exception as exc:  # the endpoint is away: try again later
            error = type(exc).__name__
        if error is None:
            changes = {"delivered_at": now, "next_attempt_at": None}
        elif attempts >= MOCK_DELIVERY_MAX_ATTEMPTS:
            log.warning("mock webhook of payment %s given up: %s", payment_id, error)
            changes = {"next_attempt_at": None}
        else:
            changes = {"next_attempt_at": now + timedelta(seconds=min(60, 2 ** attempts))}
        with sessions() as session:
            store.settle_mock_delivery(session, payment_id, {"last_error": error, **changes})
    return len(deliveries)
