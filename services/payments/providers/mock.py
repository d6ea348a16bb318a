"""Our own mock provider: a local checkout page and webhooks signed the way Stripe signs them.

Nothing leaves the machine. The service shows the checkout page, decides the outcome from the
test card (`card_outcome`) and delivers the webhook built by `build_notification`, which this
adapter verifies exactly like a real provider's: signature first, JSON after.

Header: `Signature: t=<unix time>,v1=<hex>`, v1 = HMAC-SHA256(secret, b"<t>." + raw body).
"""
import hashlib
import hmac
import json
import time
import uuid

from . import base

SIGNATURE_HEADER = "Signature"
# A signature older or newer than this is refused, so a captured webhook cannot be replayed later.
SIGNATURE_TOLERANCE_SECONDS = 300

PAYING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
_CARD_OUTCOMES = {PAYING_CARD: base.SUCCEEDED, DECLINED_CARD: base.FAILED}

_EVENT_STATUS = {"payment.succeeded": base.SUCCEEDED, "payment.failed": base.FAILED}
_OUTCOME_EVENT = {status: event for event, status in _EVENT_STATUS.items()}


def card_outcome(card_number):
    """What paying with this test card leads to: "succeeded" or "failed"."""
    number = "".join(str(card_number).split())
    try:
        return _CARD_OUTCOMES[number]
    except KeyError:
        raise ValueError(f"use the test card {PAYING_CARD} (pays) or {DECLINED_CARD} (declined)") from None


def _digest(secret, body, t):
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret, body, t):
    """The `Signature` header value for these raw body bytes at unix time t."""
    return f"t={int(t)},v1={_digest(secret, body, int(t))}"


def verify_signature(secret, body, signature, now=None):
    """Raise NotificationForged unless `signature` signs these exact bytes, recently."""
    if not secret:
        # An empty key would let anyone sign.
        raise base.NotificationForged("no webhook secret is configured")
    if not signature:
        raise base.NotificationForged("the Signature header is missing")
    timestamp, candidates = None, []
    for part in signature.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)
    try:
        t = int(timestamp)
    except (TypeError, ValueError):
        raise base.NotificationForged("the Signature header has no valid timestamp") from None
    if not candidates:
        raise base.NotificationForged("the Signature header has no v1 signature")
    now = time.time() if now is None else now
    if abs(now - t) > SIGNATURE_TOLERANCE_SECONDS:
        raise base.NotificationForged("the signature is too old or from the future")
    expected = _digest(secret, body, t).encode()
    # Check every candidate, without stopping early, so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise base.NotificationForged("the signature does not match")


def build_notification(payment_id, outcome, amount, currency, secret, now=None):
    """The webhook the mock checkout delivers: (raw body bytes, headers)."""
    body = json.dumps({
        "id": str(uuid.uuid4()),
        "type": _OUTCOME_EVENT[outcome],
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
    }).encode()
    t = int(time.time() if now is None else now)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, t)}


def provider_payment_id_for(payment_id):
    return "mock_" + payment_id


class MockProvider(base.Provider):
    """The mock has no remote side, so it cannot tell anyone's state but ours.

    `fetch` answers from `state_lookup(payment_id) -> {"status", "amount", "currency"}` when
    one is given (the service looks in its own table); without one it raises ProviderError,
    since there is nothing to ask. Refunds succeed at once: no money ever moved.
    """

    name = "mock"
    must_fetch_after_notification = False  # the webhook is signed and carries the outcome

    def __init__(self, settings, state_lookup=None):
        self.checkout_url = settings["checkout_url"]
        self.webhook_secret = settings.get("webhook_secret") or ""
        self.state_lookup = state_lookup or settings.get("state_lookup")

    def create_payment(self, payment_id, amount, currency, description, return_url, metadata,
                       receipt=None):  # the mock prints no receipt
        return base.ProviderPayment(
            provider_payment_id=provider_payment_id_for(payment_id),
            status=base.PENDING,
            amount=amount,
            currency=currency,
            confirmation_url=self.checkout_url.format(payment_id=payment_id),
            raw={},
        )

    def fetch(self, provider_payment_id):
        if self.state_lookup is None:
            raise base.ProviderError("mock payments have no remote state")
        payment_id = provider_payment_id.removeprefix("mock_")
        state = self.state_lookup(payment_id)
        if state is None:
            raise base.ProviderError(f"mock payment {payment_id} is unknown")
        return base.ProviderPayment(
            provider_payment_id=provider_payment_id,
            status=state["status"],
            amount=state["amount"],
            currency=state["currency"],
            confirmation_url=self.checkout_url.format(payment_id=payment_id),
            raw=dict(state),
        )

    def refund(self, refund_id, provider_payment_id, amount, currency, receipt=None):
        return base.ProviderRefund(
            provider_refund_id="mock_refund_" + refund_id,
            status=base.REFUND_SUCCEEDED,
            amount=amount,
            raw={},
        )

    def verify_notification(self, headers, body, query, remote_addr):
        verify_signature(self.webhook_secret, body, base.header(headers, SIGNATURE_HEADER))
        try:
            event = json.loads(body)
            status = _EVENT_STATUS[event["type"]]
            payment_id = str(event["payment_id"])
            notification_id = str(event["id"])
        except (ValueError, TypeError, KeyError):
            raise base.NotificationForged("the notification is not the mock's JSON") from None
        return base.Notification(
            provider_payment_id=provider_payment_id_for(payment_id),
            payment_id=payment_id,
            dedupe_key=notification_id,
            status=status,
            amount=event.get("amount"),
            currency=event.get("currency"),
            raw=event,
        )
