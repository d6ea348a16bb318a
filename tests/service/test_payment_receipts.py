"""Fiscal receipts (54-ФЗ): every payment and refund sent to YooKassa, T-Bank and Sber carries
its receipt when the studio turns receipts on; the fake providers check the fields and that
the items add up, as the real cash registers do."""
from dataclasses import replace

import pytest

from contracts.errors.payments import PaymentProviderFailed, ReceiptContactMissing
from gateway.errors import status_and_body
from services.payments import creating, refunds, views
from services.payments.providers import ProviderError
from services.payments.receipts import ReceiptSettings, payment_receipt, receipt_phone, refund_receipt
from tests.service.conftest import adapters
from tests.service.test_payments_use_cases import PREPAYMENT, RETURN_URL, SETTINGS, Bookings, now, payment

ON = ReceiptSettings(enabled=True, tax_system_code=2, vat_code=1)
WITH_RECEIPTS = replace(SETTINGS, receipts=ON)
CUSTOMER = {"name": "Анна", "phone": "+7 (916) 123-45-67", "email": "anna@example.com"}
PROVIDERS = ("yookassa", "tinkoff", "sberpay")


@pytest.fixture
def bookings():
    bookings = Bookings()
    add = bookings.add

    def add_with_customer(customer=CUSTOMER, **kwargs):
        booking_id = add(**kwargs)
        bookings.views[booking_id]["customer"] = customer
        return booking_id

    bookings.add = add_with_customer
    return bookings


@pytest.fixture(autouse=True)
def cash_registers_on(fakes):
    for fake in fakes.values():
        fake.receipt_required = True
    yield
    for fake in fakes.values():
        fake.receipt_required = False


def pay(sessions, gateways, bookings, booking_id, gateway, settings=WITH_RECEIPTS):
    return creating.create_payment(
        sessions, gateways, bookings, settings,
        {"booking_id": booking_id, "kind": "prepayment", "gateway": gateway,
         "return_url": RETURN_URL}, now())


def settle(fakes, gateway, provider_payment_id):
    {"yookassa": lambda: fakes["yookassa"].pay(provider_payment_id),
     "tinkoff": lambda: fakes["tinkoff"].pay(provider_payment_id),
     "sberpay": lambda: fakes["sberpay"].pay(provider_payment_id)}[gateway]()


# --- the receipt itself ------------------------------------------------------------------------

def test_a_receipt_names_the_customer_and_one_line_of_the_payments_amount():
    receipt = payment_receipt(ON, CUSTOMER, "prepayment", 144000, "Prepayment: Loft")
    assert receipt == {
        "customer": {"email": "anna@example.com", "phone": "79161234567"},
        "tax_system_code": 2,
        "items": [{"description": "Prepayment: Loft", "quantity": 1, "price": 144000,
                   "vat_code": 1, "payment_subject": "service",
                   "payment_mode": "partial_prepayment"}]}
    assert payment_receipt(ON, CUSTOMER, "full", 1, "x")["items"][0]["payment_mode"] == \
        "full_prepayment"
    assert refund_receipt(receipt, 50000)["items"][0]["price"] == 50000
    assert payment_receipt(ReceiptSettings(), CUSTOMER, "full", 1, "x") is None
    assert refund_receipt(None, 1) is None


@pytest.mark.parametrize("phone, digits", [("+7 916 123-45-67", "79161234567"),
                                           ("8 (916) 123 45 67", "79161234567"),
                                           ("9161234567", "79161234567"),
                                           ("+44 20 7946 0958", "442079460958"),
                                           ("+12 345 67", None), ("", None)])
def test_phones_are_written_as_receipts_take_them(phone, digits):
    assert receipt_phone(phone) == digits


def test_without_an_email_or_a_usable_phone_the_receipt_cannot_be_made():
    with pytest.raises(ReceiptContactMissing) as missing:
        payment_receipt(ON, {"name": "Анна", "phone": "+12 345 67"}, "full", 1, "x")
    status, body = status_and_body(missing.value)
    assert status == 422 and body["error"] == "receipt_contact_required"
    assert "customer" in body["details"]


def test_a_payment_without_contacts_is_refused_before_any_provider_is_asked(
        sessions, gateways, fakes, bookings):
    booking_id = bookings.add(customer={"name": "Анна", "phone": "+12 345 67", "email": None})
    seen = len(fakes["tinkoff"].requests_seen)
    with pytest.raises(ReceiptContactMissing):
        pay(sessions, gateways, bookings, booking_id, "tinkoff")
    assert len(fakes["tinkoff"].requests_seen) == seen
    assert views.list_payments(sessions, {"booking_id": booking_id})["items"] == []


# --- each provider: the payment and its refund carry their receipts -----------------------------

@pytest.mark.parametrize("gateway", PROVIDERS)
def test_a_payment_and_its_refund_carry_receipts_that_add_up(sessions, gateways, fakes,
                                                             bookings, gateway):
    fake = fakes[gateway]
    booking_id = bookings.add()
    created = pay(sessions, gateways, bookings, booking_id, gateway)
    provider_payment_id = payment(sessions, created["id"])["provider_payment_id"]
    settle(fakes, gateway, provider_payment_id)
    refunds.refund(sessions, gateways, created["id"], now(), amount=40000,
                      request_id=f"r-{created['id']}")

    (_, paid), (_, refunded) = fake.receipts[-2:]
    if gateway == "yookassa":
        assert paid["customer"] == {"email": "anna@example.com", "phone": "79161234567"}
        assert paid["items"][0]["amount"] == {"value": "1440.00", "currency": "RUB"}
        assert (paid["items"][0]["vat_code"], paid["items"][0]["payment_mode"],
                paid["tax_system_code"]) == (1, "partial_prepayment", 2)
        assert refunded["items"][0]["amount"]["value"] == "400.00"
    elif gateway == "tinkoff":
        assert (paid["Email"], paid["Phone"], paid["Taxation"]) == \
            ("anna@example.com", "+79161234567", "usn_income")
        assert [(i["Price"], i["Amount"], i["Tax"], i["PaymentMethod"], i["PaymentObject"])
                for i in paid["Items"]] == [(PREPAYMENT, PREPAYMENT, "none", "prepayment",
                                             "service")]
        assert refunded["Items"][0]["Amount"] == 40000
    else:
        assert paid["customerDetails"]["email"] == "anna@example.com"
        [item] = paid["cartItems"]["items"]
        assert (item["itemAmount"], item["tax"]["taxType"]) == (PREPAYMENT, 0)
        assert {a["name"]: a["value"] for a in item["itemAttributes"]["attributes"]} == \
            {"paymentMethod": "2", "paymentObject": "4"}
        assert [i["itemAmount"] for i in refunded] == [40000]


@pytest.mark.parametrize("gateway", PROVIDERS)
def test_a_provider_with_receipts_on_refuses_money_without_a_receipt(sessions, gateways,
                                                                     bookings, gateway):
    booking_id = bookings.add()
    with pytest.raises(PaymentProviderFailed):
        pay(sessions, gateways, bookings, booking_id, gateway, settings=SETTINGS)


BAD_RECEIPTS = {
    "items do not add up": lambda receipt: {**receipt, "items": [
        {**receipt["items"][0], "price": 100000},
        {**receipt["items"][0], "price": 40000 + 1}]},
    "no contact": lambda receipt: {**receipt, "customer": {}},
}


@pytest.mark.parametrize("gateway", PROVIDERS)
@pytest.mark.parametrize("spoil", sorted(BAD_RECEIPTS))
def test_a_receipt_whose_items_do_not_add_up_is_refused_by_the_provider(fakes, endpoint,
                                                                        gateway, spoil):
    provider = adapters(fakes, endpoint)[gateway]
    receipt = payment_receipt(ON, CUSTOMER, "full", 140000, "Payment: Loft")
    good = provider.create_payment(f"ok-{gateway}-{spoil}-{now().timestamp()}", 140000, "RUB",
                                   "Payment: Loft", RETURN_URL, {}, receipt=receipt)
    assert good.provider_payment_id
    with pytest.raises(ProviderError):
        provider.create_payment(f"bad-{gateway}-{spoil}-{now().timestamp()}", 140000, "RUB",
                                "Payment: Loft", RETURN_URL, {},
                                receipt=BAD_RECEIPTS[spoil](receipt))


@pytest.mark.parametrize("gateway", PROVIDERS)
def test_a_refund_receipt_that_does_not_add_up_is_refused(sessions, gateways, fakes, bookings,
                                                          gateway):
    booking_id = bookings.add()
    created = pay(sessions, gateways, bookings, booking_id, gateway)
    provider_payment_id = payment(sessions, created["id"])["provider_payment_id"]
    settle(fakes, gateway, provider_payment_id)
    receipt = refund_receipt(payment_receipt(ON, CUSTOMER, "prepayment", PREPAYMENT, "x"),
                             30000)
    with pytest.raises(ProviderError):
        gateways.adapter(gateway).refund(f"rf-{created['id']}", provider_payment_id, 40000,
                                         "RUB", receipt=receipt)
