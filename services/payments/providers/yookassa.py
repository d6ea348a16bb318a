"""YooKassa (API v3) through the official `yookassa` SDK.

YooKassa does not sign its notifications. One is believed only if it comes from YooKassa's
published networks, and even then it is just a hint: the service fetches the payment back and
acts on what the API says (`must_fetch_after_notification`).
"""
import functools
import ipaddress
import json
from decimal import Decimal, InvalidOperation

import requests
from yookassa import Configuration, Payment, Refund
from yookassa.client import ApiClient
from yookassa.domain.exceptions import ApiError

from . import base

try:
    from yookassa.domain.common import SecurityHelper

    YOOKASSA_NETWORKS = tuple(SecurityHelper.YOOKASSA_NETWORKS)
except ImportError:  # an SDK without the helper: the list YooKassa documents
    YOOKASSA_NETWORKS = (
        "77.75.153.0/25", "77.75.156.11", "77.75.156.35", "77.75.154.128/25",
        "185.71.76.0/27", "185.71.77.0/27", "2a02:5180::/32",
    )

DESCRIPTION_MAX_LENGTH = 128

_PAYMENT_STATUS = {
    "pending": base.PENDING,
    "waiting_for_capture": base.PENDING,  # only with two-stage payments, which we do not ask for
    "succeeded": base.SUCCEEDED,
    "canceled": base.CANCELED,
}
_REFUND_STATUS = {"succeeded": base.REFUND_SUCCEEDED, "pending": base.REFUND_PENDING, "canceled": base.REFUND_FAILED}
_EVENT_STATUS = {
    "payment.succeeded": base.SUCCEEDED,
    "payment.canceled": base.CANCELED,
    "payment.waiting_for_capture": base.PENDING,
}


def rubles(kopecks):
    """150050 -> "1500.50": the decimal string YooKassa wants, computed without floats."""
    whole, cents = divmod(base.check_kopecks(kopecks), 100)
    return f"{whole}.{cents:02d}"


def kopecks(value):
    """ "1500.50" -> 150050; a value with a fraction of a kopeck is refused, not rounded."""
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation:
        raise base.ProviderError(f"YooKassa reported an amount that is not a number: {value!r}") from None
    if amount != amount.to_integral_value():
        raise base.ProviderError(f"YooKassa reported a fraction of a kopeck: {value!r}")
    return int(amount)


def yookassa_receipt(receipt, currency):
    """YooKassa's `receipt`: the customer, tax_system_code, items priced in rubles."""
    return {
        "customer": dict(receipt["customer"]),
        "tax_system_code": receipt["tax_system_code"],
        "items": [{"description": item["description"], "quantity": str(item["quantity"]),
                   "amount": {"value": rubles(item["price"]), "currency": currency},
                   "vat_code": item["vat_code"], "payment_subject": item["payment_subject"],
                   "payment_mode": item["payment_mode"]} for item in receipt["items"]],
    }


class _ClientWithTimeout(ApiClient):
    """The SDK's client, but no request may hang: the SDK itself sets no timeout at all."""

    request_timeout = 10.0

    def __init__(self):
        super().__init__()
        self.timeout_seconds = self.request_timeout  # fixed now, like the rest of its configuration

    def get_session(self):
        session = super().get_session()
        session.request = functools.partial(session.request, timeout=self.timeout_seconds)
        return session


class _Payments(Payment):
    def __init__(self):
        self.client = _ClientWithTimeout()


class _Refunds(Refund):
    def __init__(self):
        self.client = _ClientWithTimeout()


def _transport_failure(exc):
    """The requests exception behind an SDK failure, if there is one.

    The SDK turns a transport error into an AttributeError (it reads `.response` of an
    exception that has none); the original is kept as its context.
    """
    while exc is not None:
        if isinstance(exc, requests.RequestException):
            return exc
        exc = exc.__context__
    return None


class YooKassaProvider(base.Provider):
    name = "yookassa"
    must_fetch_after_notification = True

    def __init__(self, settings):
        self.shop_id = str(settings.get("shop_id") or "")
        self.secret_key = str(settings.get("secret_key") or "")
        self.api_url = str(settings.get("api_url") or "https://api.yookassa.ru/v3").rstrip("/")
        self.timeout = base.timeout_from(settings)
        self.trust_forwarded_for = base.setting_is_true(settings.get("trust_forwarded_for", False))
        networks = settings.get("allowed_networks") or YOOKASSA_NETWORKS
        if isinstance(networks, str):  # from an environment variable: comma-separated
            networks = [n for n in networks.split(",") if n.strip()]
        self.allowed_networks = [ipaddress.ip_network(n.strip(), strict=False) for n in networks]
        self._configure_sdk()

    def _configure_sdk(self):
        # The SDK's configuration is process-wide. Applying ours again before each call costs
        # nothing and keeps a second adapter (another shop, a test's fake) from leaking in.
        Configuration.configure(self.shop_id, self.secret_key, api_url=self.api_url)
        # No logger, ever: the SDK's would log the Authorization header of every request.
        Configuration.logger = None
        _ClientWithTimeout.request_timeout = self.timeout

    def _call(self, what, sdk_call):
        if not (self.shop_id and self.secret_key):
            raise base.ProviderError("YooKassa shop id and secret key are not configured")
        self._configure_sdk()
        try:
            return json.loads(sdk_call().json())
        except ApiError as exc:
            content = exc.content or {}
            raise base.ProviderError(
                f"YooKassa refused to {what}: {content.get('code', 'error')} "
                f"{content.get('description', '')}".strip()
            ) from None
        except requests.Timeout:
            raise base.ProviderError(f"YooKassa did not answer within {self.timeout:g} s") from None
        except (AttributeError, requests.RequestException) as exc:
            failure = _transport_failure(exc)
            if failure is None:
                raise
            if isinstance(failure, requests.Timeout):
                raise base.ProviderError(f"YooKassa did not answer within {self.timeout:g} s") from None
            raise base.ProviderError(f"YooKassa is unreachable ({type(failure).__name__})") from None
        except ValueError:  # the answer was not JSON
            raise base.ProviderError(f"YooKassa answered something unexpected to {what}") from None

    def create_payment(self, payment_id, amount, currency, description, return_url, metadata,
                       receipt=None):
        request = {
            "amount": {"value": rubles(amount), "currency": currency},
            "capture": True,  # one stage: the money is taken as soon as the payer confirms
            "confirmation": {"type": "redirect", "return_url": return_url},
            # YooKassa keeps metadata values as strings.
            "metadata": {**{k: str(v) for k, v in (metadata or {}).items()}, "payment_id": payment_id},
        }
        if description:
            request["description"] = description[:DESCRIPTION_MAX_LENGTH]
        if receipt:
            request["receipt"] = yookassa_receipt(receipt, currency)
        # Our payment id is the idempotence key: a retry returns the first payment, not a second.
        answer = self._call(
            "create a payment", lambda: _Payments.create(request, idempotency_key=payment_id)
        )
        return self._payment(answer)

    def fetch(self, provider_payment_id):
        answer = self._call("show a payment", lambda: _Payments.find_one(provider_payment_id))
        return self._payment(answer)

    def refund(self, refund_id, provider_payment_id, amount, currency, receipt=None):
        request = {
            "payment_id": provider_payment_id,
            "amount": {"value": rubles(amount), "currency": currency},
        }
        if receipt:
            request["receipt"] = yookassa_receipt(receipt, currency)
        answer = self._call(
            "refund", lambda: _Refunds.create(request, idempotency_key=refund_id)
        )
        return self._refund(answer)

    def fetch_refund(self, provider_refund_id):
        # a repeated create answers what it answered first: only this tells a pending
        # refund's fate
        return self._refund(self._call("show a refund",
                                       lambda: _Refunds.find_one(provider_refund_id)))

    @staticmethod
    def _refund(answer):
        return base.ProviderRefund(
            provider_refund_id=answer.get("id"),
            status=_REFUND_STATUS.get(answer.get("status"), base.REFUND_PENDING),
            amount=kopecks(answer["amount"]["value"]),
            raw=answer,
        )

    def _payment(self, answer):
        amount = kopecks(answer["amount"]["value"])
        status = _PAYMENT_STATUS.get(answer.get("status"), base.PENDING)
        # A refunded YooKassa payment stays `succeeded`; the refunded amount tells the rest.
        refunded = kopecks((answer.get("refunded_amount") or {}).get("value", "0"))
        if status == base.SUCCEEDED and refunded:
            status = base.REFUNDED if refunded >= amount else base.PARTIALLY_REFUNDED
        return base.ProviderPayment(
            provider_payment_id=answer["id"],
            status=status,
            amount=amount,
            currency=answer["amount"]["currency"],
            confirmation_url=(answer.get("confirmation") or {}).get("confirmation_url"),
            raw=answer,
            refunded_amount=refunded,
        )

    def sender_address(self, headers, remote_addr):
        """Who sent the notification.

        Behind our own proxy the socket peer is the proxy; the address it saw is the LAST hop
        of X-Forwarded-For (the one the proxy appended). Earlier hops are whatever the sender
        chose to write, so trusting them would let anyone claim a YooKassa address.
        """
        if self.trust_forwarded_for:
            forwarded = base.header(headers, "X-Forwarded-For")
            if forwarded and forwarded.strip():
                return forwarded.split(",")[-1].strip()
        return remote_addr

    def is_yookassa_address(self, address):
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.allowed_networks)

    def verify_notification(self, headers, body, query, remote_addr):
        sender = self.sender_address(headers, remote_addr)
        if not self.is_yookassa_address(sender):
            raise base.NotificationForged(f"{sender!r} is not a YooKassa address")
        try:
            notification = json.loads(body)
            event = notification["event"]
            subject = notification["object"]
            subject_id = str(subject["id"])
            if notification.get("type") != "notification" or not isinstance(event, str):
                raise ValueError(event)
            if event.startswith("refund."):
                # The object is the refund: its amount is the refund's, not the payment's.
                provider_payment_id = subject.get("payment_id")
                payment_id, amount, currency = None, None, None
            else:
                provider_payment_id = subject_id
                payment_id = (subject.get("metadata") or {}).get("payment_id")
                money = subject.get("amount") or {}
                amount = kopecks(money["value"]) if "value" in money else None
                currency = money.get("currency")
        except (ValueError, TypeError, KeyError, AttributeError, base.ProviderError):
            raise base.NotificationForged("the notification is not YooKassa's JSON") from None
        return base.Notification(
            provider_payment_id=provider_payment_id,
            payment_id=payment_id,
            dedupe_key=f"{event}:{subject_id}",
            status=_EVENT_STATUS.get(event),
            amount=amount,
            currency=currency,
            raw=notification,
        )
