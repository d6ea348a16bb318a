"""Sber acquiring (RBS REST): form-encoded POSTs authenticated by userName/password.

Our payment id is the `orderNumber`; Sber refuses a second order with the same number, so a
retried register can never charge twice. A callback is proven by its HMAC `checksum` and then
only prompts the service to ask getOrderStatusExtended what really happened.
"""
import hashlib
import hmac
import json
from urllib.parse import parse_qsl

import requests

from . import base

DEFAULT_SESSION_TIMEOUT_SECS = 1200
_CURRENCY_CODES = {"RUB": "643"}
_CURRENCY_NAMES = {code: name for name, code in _CURRENCY_CODES.items()}

# getOrderStatusExtended's orderStatus. 1 ("held") only happens with two-stage payments; we
# register one-stage orders, so a hold is a payment still on its way, not money taken.
_ORDER_STATUS = {
    0: base.PENDING,  # registered, not paid
    1: base.PENDING,  # held
    2: base.SUCCEEDED,  # deposited
    3: base.CANCELED,  # reversed
    4: base.REFUNDED,  # refunded, fully or in part: see `_payment`
    5: base.PENDING,  # in 3-D Secure
    6: base.FAILED,  # declined
}

# What a callback claims, by (operation, status). The service fetches the order anyway.
_CALLBACK_STATUS = {
    ("deposited", "1"): base.SUCCEEDED,
    ("deposited", "0"): base.FAILED,
    ("approved", "1"): base.PENDING,
    ("approved", "0"): base.FAILED,
    ("reversed", "1"): base.CANCELED,
    ("declinedByTimeout", "1"): base.FAILED,
    ("declinedByTimeout", "0"): base.FAILED,
}

# 54-ФЗ codes in Sber's words (receipts are kept in YooKassa's: services.payments.receipts)
TAX_SYSTEM = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}
TAX_TYPE = {1: 0, 2: 1, 3: 2, 4: 6, 5: 4, 6: 7}
PAYMENT_METHOD = {"full_prepayment": 1, "partial_prepayment": 2, "advance": 3,
                  "full_payment": 4, "partial_payment": 5, "credit": 6, "credit_payment": 7}
PAYMENT_OBJECT = {"commodity": 1, "excise": 2, "job": 3, "service": 4, "payment": 10,
                  "another": 13}


def sber_items(receipt):
    """The receipt's positions as Sber's cartItems / refundItems list them (kopecks)."""
    return [{"positionId": str(number), "name": item["description"][:100],
             "quantity": {"value": item["quantity"], "measure": "услуга"},
             "itemAmount": item["price"] * item["quantity"], "itemPrice": item["price"],
             "itemCode": str(number), "tax": {"taxType": TAX_TYPE[item["vat_code"]]},
             "itemAttributes": {"attributes": [
                 {"name": "paymentMethod", "value": str(PAYMENT_METHOD[item["payment_mode"]])},
                 {"name": "paymentObject",
                  "value": str(PAYMENT_OBJECT[item["payment_subject"]])}]}}
            for number, item in enumerate(receipt["items"], start=1)]


def sber_order_bundle(receipt):
    """register.do's fiscal fields: `orderBundle` (JSON text) and `taxSystem`."""
    bundle = {"customerDetails": dict(receipt["customer"]),
              "cartItems": {"items": sber_items(receipt)}}
    return {"orderBundle": json.dumps(bundle, ensure_ascii=False),
            "taxSystem": TAX_SYSTEM[receipt["tax_system_code"]]}


# Fields of a callback that are not themselves signed.
_UNSIGNED_FIELDS = ("checksum", "sign_alias")


def checksum(params, callback_key):
    """Sber's callback checksum: HMAC-SHA256 over "name;value;" of every signed field, by name.

    Returned in lower case; Sber sends upper case, and `verify_checksum` accepts either.
    """
    signed = sorted((name, value) for name, value in params.items() if name not in _UNSIGNED_FIELDS)
    message = "".join(f"{name};{value};" for name, value in signed)
    return hmac.new(callback_key.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_checksum(params, callback_key):
    """Raise NotificationForged unless the params carry a checksum made with our key."""
    if not callback_key:
        # An empty key would let anyone compute a valid checksum.
        raise base.NotificationForged("no Sber callback key is configured")
    given = params.get("checksum")
    if not isinstance(given, str) or not given:
        raise base.NotificationForged("the callback has no checksum")
    expected = checksum(params, callback_key)
    if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
        raise base.NotificationForged("the callback's checksum does not match")


def _single_values(params):
    """A callback's parameters as name -> one string; a repeated name cannot be verified."""
    single = {}
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise base.NotificationForged(f"the callback repeats {name!r}")
            value = value[0]
        single[name] = str(value)
    return single


def _callback_params(body, query):
    # Sber calls back by GET (parameters in the query) or sometimes by a form POST.
    if query and "checksum" in query:
        return _single_values(query)
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise base.NotificationForged("the callback body is not UTF-8") from None
    form = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(name, []).append(value)
    return _single_values(form)


class SberPayProvider(base.Provider):
    name = "sberpay"
    must_fetch_after_notification = True
    refunds_idempotent = False  # refund.do takes no key of ours

    def __init__(self, settings):
        api_url = str(settings.get("api_url") or "https://securepayments.sberbank.ru/payment/rest/")
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.username = str(settings.get("username") or "")
        self.password = str(settings.get("password") or "")
        self.callback_key = str(settings.get("callback_key") or "")
        self.session_timeout_secs = int(settings.get("session_timeout_secs") or DEFAULT_SESSION_TIMEOUT_SECS)
        self.timeout = base.timeout_from(settings)
        self.session = requests.Session()

    def _request(self, method, params, what):
        form = {"userName": self.username, "password": self.password, **params}
        answer = base.post_for_json("Sber", self.session, self.api_url + method, self.timeout, data=form)
        if str(answer.get("errorCode", "0")).strip() not in ("0", ""):
            reason = answer.get("errorMessage", "")
            raise base.ProviderError(f"Sber refused to {what}: error {answer['errorCode']} {reason}".strip())
        return answer

    def create_payment(self, payment_id, amount, currency, description, return_url, metadata,
                       receipt=None):
        if currency not in _CURRENCY_CODES:
            raise base.ProviderError(f"Sber orders here are in RUB only, not {currency}")
        params = {
            "orderNumber": payment_id,
            "amount": base.check_kopecks(amount),
            "currency": _CURRENCY_CODES[currency],
            "returnUrl": return_url,
            "failUrl": return_url,
            "description": description or "",
            "sessionTimeoutSecs": self.session_timeout_secs,
        }
        if receipt:
            params.update(sber_order_bundle(receipt))
        answer = self._request("register.do", params, "register an order")
        return base.ProviderPayment(
            provider_payment_id=answer["orderId"],
            status=base.PENDING,
            amount=amount,
            currency=currency,
            confirmation_url=answer.get("formUrl"),
            raw=answer,
        )

    def fetch(self, provider_payment_id):
        answer = self._request(
            "getOrderStatusExtended.do", {"orderId": provider_payment_id}, "show an order"
        )
        return self._payment(provider_payment_id, answer)

    def _payment(self, order_id, answer):
        try:
            order_status = int(answer["orderStatus"])
            amount = int(answer["amount"])
        except (KeyError, TypeError, ValueError):
            raise base.ProviderError("Sber's order status lacks orderStatus or amount") from None
        status = _ORDER_STATUS.get(order_status, base.PENDING)
        # Sber reports a partial refund as "refunded" too; the amounts tell them apart.
        refunded = int((answer.get("paymentAmountInfo") or {}).get("refundedAmount") or 0)
        if status in (base.SUCCEEDED, base.REFUNDED) and refunded:
            status = base.REFUNDED if refunded >= amount else base.PARTIALLY_REFUNDED
        return base.ProviderPayment(
            provider_payment_id=order_id,
            status=status,
            amount=amount,
            currency=_CURRENCY_NAMES.get(str(answer.get("currency", "643")), str(answer.get("currency"))),
            confirmation_url=None,
            raw=answer,
            refunded_amount=refunded,
        )

    def refund(self, refund_id, provider_payment_id, amount, currency, receipt=None):
        # refund.do has no idempotency key: the service must call it once per refund and,
        # when an answer is lost, look at getOrderStatusExtended's refundedAmount before retrying.
        params = {"orderId": provider_payment_id, "amount": base.check_kopecks(amount)}
        if receipt:
            params["refundItems"] = json.dumps({"items": sber_items(receipt)},
                                               ensure_ascii=False)
        answer = self._request("refund.do", params, "refund")
        return base.ProviderRefund(provider_refund_id=None, status=base.REFUND_SUCCEEDED, amount=amount, raw=answer)

    def verify_notification(self, headers, body, query, remote_addr):
        params = _callback_params(body, query)
        verify_checksum(params, self.callback_key)
        try:
            order_id, operation, status = params["mdOrder"], params["operation"], params["status"]
        except KeyError:
            raise base.NotificationForged("the callback lacks mdOrder, operation or status") from None
        amount = params.get("amount")
        return base.Notification(
            provider_payment_id=order_id,
            payment_id=params.get("orderNumber"),
            dedupe_key=f"{order_id}:{operation}:{status}",
            status=_CALLBACK_STATUS.get((operation, status)),
            amount=int(amount) if amount and amount.isdigit() else None,
            currency=None,
            raw=params,
        )
