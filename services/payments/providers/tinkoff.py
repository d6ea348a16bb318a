"""T-Bank (Tinkoff) Kassa, MAPI v2: JSON POSTs, every body signed with `Token`.

Our payment id is the `OrderId`: T-Bank refuses a second Init with the same OrderId, which is
the only idempotency it offers, so a retried Init can never charge twice.
"""
import hashlib
import hmac
import json

import requests

from . import base

DESCRIPTION_MAX_LENGTH = 140

# CANCELED is T-Bank's word for a payment voided before any money was taken. PROVIDERS.md
# counts it among the failures, and so do we: for the booking it means exactly what a
# decline means (nothing was paid, the hold may go). Money given back after CONFIRMED is
# REFUNDED / PARTIAL_REFUNDED, never CANCELED.
_PAYMENT_STATUS = {
    "CONFIRMED": base.SUCCEEDED,
    "REJECTED": base.FAILED,
    "AUTH_FAIL": base.FAILED,
    "CANCELED": base.FAILED,
    "DEADLINE_EXPIRED": base.FAILED,
    "REFUNDED": base.REFUNDED,
    "PARTIAL_REFUNDED": base.PARTIALLY_REFUNDED,
}
# What Cancel answers with when the money is back (or the hold released).
_MONEY_RETURNED = {"REFUNDED", "PARTIAL_REFUNDED", "REVERSED", "PARTIAL_REVERSED", "CANCELED"}


def payment_status(tbank_status):
    # Everything else (NEW, FORM_SHOWED, AUTHORIZING, 3DS_CHECKING, CONFIRMING, ...) is on its way.
    return _PAYMENT_STATUS.get(tbank_status, base.PENDING)


# 54-ФЗ codes in T-Bank's words (receipts are kept in YooKassa's: services.payments.receipts)
TAXATION = {1: "osn", 2: "usn_income", 3: "usn_income_outcome", 4: "envd", 5: "esn",
            6: "patent"}
TAX = {1: "none", 2: "vat0", 3: "vat10", 4: "vat20", 5: "vat110", 6: "vat120"}
PAYMENT_METHOD = {"partial_prepayment": "prepayment"}    # the rest are named alike


def tbank_receipt(receipt):
    """T-Bank's `Receipt`: Taxation, Email/Phone, Items in kopecks (Amount = Price × Quantity).
    Left out of the Token, as every nested object is."""
    contact = receipt["customer"]
    tbank = {"Taxation": TAXATION[receipt["tax_system_code"]], "Items": [{
        "Name": item["description"][:128], "Price": item["price"],
        "Quantity": item["quantity"], "Amount": item["price"] * item["quantity"],
        "Tax": TAX[item["vat_code"]],
        "PaymentMethod": PAYMENT_METHOD.get(item["payment_mode"], item["payment_mode"]),
        "PaymentObject": item["payment_subject"]} for item in receipt["items"]]}
    if contact.get("email"):
        tbank["Email"] = contact["email"]
    if contact.get("phone"):
        tbank["Phone"] = "+" + contact["phone"]
    return tbank


def _token_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def token(params, password):
    """T-Bank's `Token`: SHA-256 over the sorted root scalars' values plus the password.

    Nested objects and arrays (DATA, Receipt) and `Token` itself are left out. A JSON null
    adds nothing, as in T-Bank's own reference code where it concatenates as an empty string.
    """
    signed = {
        key: value
        for key, value in params.items()
        if key != "Token" and value is not None and not isinstance(value, (dict, list))
    }
    signed["Password"] = password
    joined = "".join(_token_value(signed[key]) for key in sorted(signed))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class TinkoffProvider(base.Provider):
    name = "tinkoff"
    must_fetch_after_notification = False  # the notification is signed with our password

    def __init__(self, settings):
        self.api_url = str(settings.get("api_url") or "https://securepay.tinkoff.ru/v2").rstrip("/")
        self.terminal_key = str(settings.get("terminal_key") or "")
        self.password = str(settings.get("password") or "")
        self.notification_url = settings.get("notification_url")
        self.timeout = base.timeout_from(settings)
        self.session = requests.Session()

    def _request(self, method, params, what):
        body = {"TerminalKey": self.terminal_key, **params}
        body["Token"] = token(body, self.password)
        answer = base.post_for_json("T-Bank", self.session, f"{self.api_url}/{method}", self.timeout, json=body)
        if answer.get("Success") is not True or str(answer.get("ErrorCode", "")) != "0":
            reason = " ".join(str(answer[k]) for k in ("Message", "Details") if answer.get(k))
            raise base.ProviderError(
                f"T-Bank refused to {what}: error {answer.get('ErrorCode', '?')} {reason}".strip()
            )
        return answer

    def create_payment(self, payment_id, amount, currency, description, return_url, metadata,
                       receipt=None):
        if currency != "RUB":
            raise base.ProviderError(f"T-Bank terminals here take RUB only, not {currency}")
        params = {
            "Amount": base.check_kopecks(amount),
            "OrderId": payment_id,
            "SuccessURL": return_url,
            "FailURL": return_url,
        }
        if description:
            params["Description"] = description[:DESCRIPTION_MAX_LENGTH]
        if self.notification_url:
            params["NotificationURL"] = self.notification_url
        if receipt:
            params["Receipt"] = tbank_receipt(receipt)
        answer = self._request("Init", params, "start a payment")
        return base.ProviderPayment(
            provider_payment_id=str(answer["PaymentId"]),
            status=payment_status(answer.get("Status")),
            amount=int(answer.get("Amount", amount)),
            currency="RUB",
            confirmation_url=answer.get("PaymentURL"),
            raw=answer,
        )

    def fetch(self, provider_payment_id):
        answer = self._request("GetState", {"PaymentId": str(provider_payment_id)}, "show a payment")
        return base.ProviderPayment(
            provider_payment_id=str(answer["PaymentId"]),
            status=payment_status(answer.get("Status")),
            amount=int(answer["Amount"]),
            currency="RUB",
            confirmation_url=None,
            raw=answer,
            # GetState names a full refund but not the sum of partial ones
            refunded_amount=int(answer["Amount"]) if answer.get("Status") == "REFUNDED"
            else None,
        )

    def refund(self, refund_id, provider_payment_id, amount, currency, receipt=None):
        params = {
            "PaymentId": str(provider_payment_id),
            "Amount": base.check_kopecks(amount),
            # Makes a retried Cancel the same refund, not a second one.
            "ExternalRequestId": refund_id,
        }
        if receipt:
            params["Receipt"] = tbank_receipt(receipt)
        answer = self._request("Cancel", params, "refund")
        returned = answer.get("Status") in _MONEY_RETURNED
        return base.ProviderRefund(
            provider_refund_id=answer.get("ExternalRequestId") or refund_id,
            status=base.REFUND_SUCCEEDED if returned else base.REFUND_PENDING,
            amount=amount,
            raw=answer,
        )

    def verify_notification(self, headers, body, query, remote_addr):
        if not self.password:
            # Without the password anyone could compute a valid Token.
            raise base.NotificationForged("no T-Bank terminal password is configured")
        try:
            notification = json.loads(body)
        except (ValueError, TypeError):
            raise base.NotificationForged("the notification is not JSON") from None
        if not isinstance(notification, dict):
            raise base.NotificationForged("the notification is not a JSON object")
        given = notification.get("Token")
        if not isinstance(given, str):
            raise base.NotificationForged("the notification has no Token")
        expected = token(notification, self.password)
        if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
            raise base.NotificationForged("the notification's Token does not match")
        terminal_key = str(notification.get("TerminalKey", "")).encode("utf-8", "replace")
        if not hmac.compare_digest(terminal_key, self.terminal_key.encode()):
            raise base.NotificationForged("the notification is for another terminal")
        try:
            provider_payment_id = str(notification["PaymentId"])
            status = notification["Status"]
            amount = int(notification["Amount"]) if "Amount" in notification else None
        except (KeyError, TypeError, ValueError):
            raise base.NotificationForged("the notification lacks PaymentId or Status") from None
        return base.Notification(
            provider_payment_id=provider_payment_id,
            payment_id=notification.get("OrderId"),
            dedupe_key=f"{provider_payment_id}:{status}",
            status=payment_status(status),
            amount=amount,
            currency="RUB",
            raw=notification,
        )
