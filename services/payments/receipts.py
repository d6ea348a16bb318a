"""Fiscal receipts (54-ФЗ): every payment and refund sent to a provider carries the receipt
the provider's online cash register prints, when the studio turns receipts on.

A receipt is kept here in one neutral shape (YooKassa's codes; an item's `price` is kopecks
per unit, times its `quantity`); each
adapter writes it in its provider's own form (YooKassa `receipt`, T-Bank `Receipt`, Sber
`orderBundle`). The payment's receipt is stored with the payment, so that its refunds carry
a receipt for the same customer and the same line.
"""
import re
from dataclasses import dataclass, field

from contracts.errors.payments import ReceiptContactMissing
from services.common.config import setting_is_true

# 54-ФЗ "способ расчёта", as YooKassa names them
PAYMENT_MODES = ("full_prepayment", "partial_prepayment", "advance", "full_payment",
                 "partial_payment", "credit", "credit_payment")
# "предмет расчёта" the studio sells: a service (renting a hall)
PAYMENT_SUBJECTS = ("commodity", "excise", "job", "service", "payment", "another")
TAX_SYSTEM_CODES = range(1, 7)   # 1 ОСН, 2 УСН доходы, 3 УСН доходы-расходы, 4 ЕНВД, 5 ЕСХН, 6 патент
VAT_CODES = range(1, 7)          # 1 без НДС, 2 0 %, 3 10 %, 4 20 %, 5 10/110, 6 20/120
DEFAULT_MODES = {"prepayment": "partial_prepayment", "full": "full_prepayment",
                 "remainder": "full_prepayment"}


@dataclass(frozen=True)
class ReceiptSettings:
    enabled: bool = False
    tax_system_code: int = 2
    vat_code: int = 1
    payment_subject: str = "service"
    # payment kind -> payment_mode
    payment_modes: dict = field(default_factory=lambda: dict(DEFAULT_MODES))

    @classmethod
    def from_config(cls, section):
        section = section or {}
        defaults = cls()
        settings = cls(
            enabled=setting_is_true(section.get("enabled", False)),
            tax_system_code=int(section.get("tax_system_code") or defaults.tax_system_code),
            vat_code=int(section.get("vat_code") or defaults.vat_code),
            payment_subject=str(section.get("payment_subject") or defaults.payment_subject),
            payment_modes={**DEFAULT_MODES, **(section.get("payment_mode") or {})})
        if settings.tax_system_code not in TAX_SYSTEM_CODES or settings.vat_code not in \
                VAT_CODES or settings.payment_subject not in PAYMENT_SUBJECTS or \
                not set(settings.payment_modes.values()) <= set(PAYMENT_MODES):
            raise ValueError(f"PAYMENTS.receipts is not valid: {section!r}")
        return settings


def receipt_phone(phone):
    """A phone as receipts take it (digits with the country code: 79161234567), or None."""
    digits = re.sub(r"\D", "", str(phone or ""))
    if len(digits) == 10:          # a Russian number written without the country code
        digits = "7" + digits
    elif len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits if 11 <= len(digits) <= 15 else None


def payment_receipt(settings, customer, kind, amount, description):
    """The receipt of a payment of `amount` kopecks, or None when receipts are off.
    Raises ReceiptContactMissing without an e-mail or phone to send it to."""
    if not settings.enabled:
        return None
    customer = customer or {}
    contact = {"email": (customer.get("email") or "").strip() or None,
               "phone": receipt_phone(customer.get("phone"))}
    contact = {name: value for name, value in contact.items() if value}
    if not contact:
        raise ReceiptContactMissing(
            "Receipts are on: the customer's e-mail or phone number is needed to send the "
            "receipt to.", {"customer": ["an e-mail or a phone number with its country code"]})
    return {"customer": contact, "tax_system_code": settings.tax_system_code,
            "items": [{"description": description[:128], "quantity": 1, "price": amount,
                       "vat_code": settings.vat_code,
                       "payment_subject": settings.payment_subject,
                       "payment_mode": settings.payment_modes[kind]}]}


def refund_receipt(receipt, amount):
    """The receipt of a refund of `amount` kopecks of a payment with `receipt` (None: none)."""
    if not receipt:
        return None
    [item] = receipt["items"]
    return {**receipt, "items": [{**item, "quantity": 1, "price": amount}]}
