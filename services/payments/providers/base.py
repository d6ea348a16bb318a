"""The one small interface every payment provider adapter speaks.

The payments service talks to providers only through `Provider`; each adapter maps the
provider's own states onto ours and proves a notification genuine in the provider's own way.
Adapters hold no state of their own and know nothing of nameko or the database.
"""
from dataclasses import dataclass, field

import requests

from services.common.config import setting_is_true  # noqa: F401 (the adapters' base.setting_is_true)

# Each adapter maps its provider's states onto our statuses (services.payments.domain).
from services.payments.domain import (  # noqa: F401
    CANCELED,
    FAILED,
    PARTIALLY_REFUNDED,
    PAYMENT_STATUSES,
    PENDING,
    REFUND_FAILED,
    REFUND_PENDING,
    REFUND_SUCCEEDED,
    REFUNDED,
    SUCCEEDED,
)

DEFAULT_TIMEOUT_SECONDS = 10


@dataclass
class ProviderPayment:
    """What the provider says about one payment."""

    provider_payment_id: str
    status: str
    amount: int  # kopecks, as the provider reports it
    currency: str
    confirmation_url: str | None
    raw: dict = field(default_factory=dict)
    # kopecks refunded so far as the provider counts them; None where it does not say
    refunded_amount: int | None = None


@dataclass
class ProviderRefund:
    provider_refund_id: str | None
    status: str  # REFUND_SUCCEEDED | REFUND_PENDING | REFUND_FAILED
    amount: int
    raw: dict = field(default_factory=dict)


@dataclass
class Notification:
    """A notification whose authenticity has been proven.

    `status` is only what the notification claims; where `must_fetch_after_notification`
    is set, the service acts on the state it fetches, never on this claim.
    """

    provider_payment_id: str | None
    payment_id: str | None  # our payment id, when the notification carries it
    dedupe_key: str  # one per distinct notification, so each is recorded once
    status: str | None
    amount: int | None
    currency: str | None
    raw: dict = field(default_factory=dict)


class NotificationForged(Exception):
    """The notification could not be proven genuine (answer 401/403)."""


class ProviderError(Exception):
    """The provider refused a request or could not be reached. The message holds no secrets."""


class Provider:
    name = ""
    # True where a notification is only a hint to fetch the payment back (no signature to
    # trust, or the provider says so); the service then acts on `fetch`, not on the claim.
    must_fetch_after_notification = False
    # True where a refund sent again under the same refund id is the same refund; where it is
    # not, a refund whose answer was lost is looked for in the payment's refunded total
    # (`ProviderPayment.refunded_amount`) before it is sent again.
    refunds_idempotent = True

    def create_payment(self, payment_id, amount, currency, description, return_url, metadata,
                       receipt=None):
        """Start a payment; idempotent on `payment_id` (a retry never charges twice).
        `receipt`: the fiscal receipt to print (services.payments.receipts), or None."""
        raise NotImplementedError

    def fetch(self, provider_payment_id):
        raise NotImplementedError

    def refund(self, refund_id, provider_payment_id, amount, currency, receipt=None):
        """Give `amount` back; `receipt`: the refund's own fiscal receipt, or None."""
        raise NotImplementedError

    def fetch_refund(self, provider_refund_id):
        """Where the provider has a refund of its own to look up: its state now. None where
        it has not (sending the refund again with the same key tells instead)."""
        return None

    def verify_notification(self, headers, body, query, remote_addr):
        """Return the Notification, or raise NotificationForged."""
        raise NotImplementedError

    def notification_reply(self):
        """(HTTP status, content type, body) the provider expects for a notification taken."""
        return 200, "text/plain", "OK"


def check_kopecks(amount):
    """Money crosses to a provider only as a positive int of kopecks; anything else is our bug."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"an amount is a positive int of kopecks, not {amount!r}")
    return amount


def timeout_from(settings):
    return float(settings.get("timeout") or DEFAULT_TIMEOUT_SECONDS)


def header(headers, name):
    """A header's value whatever the case its name was sent in."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return value
    return None


def post_for_json(provider_name, session, url, timeout, **kwargs):
    """POST and return the JSON answer; any transport, HTTP or format failure is a ProviderError.

    Messages name the provider and the HTTP status only: bodies and URLs may carry credentials.
    """
    try:
        response = session.post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise ProviderError(f"{provider_name} did not answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise ProviderError(f"{provider_name} is unreachable ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ProviderError(f"{provider_name} answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise ProviderError(f"{provider_name} answered something other than JSON") from None
    if not isinstance(answer, dict):
        raise ProviderError(f"{provider_name} answered an unexpected JSON shape")
    return answer
