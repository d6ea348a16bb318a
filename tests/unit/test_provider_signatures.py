"""The signature algorithms that prove a provider's notification genuine."""
import hashlib
import hmac
import json

import pytest

from services.payments.providers import NotificationForged, ProviderError
from services.payments.providers.mock import (
    SIGNATURE_TOLERANCE_SECONDS,
    MockProvider,
    build_notification,
    card_outcome,
    sign,
    verify_signature,
)
from services.payments.providers.sberpay import checksum, verify_checksum
from services.payments.providers.tinkoff import TinkoffProvider, token

# --- T-Bank Token -----------------------------------------------------------------------------

# The worked example of T-Bank's "Подпись запроса" page: an Init body with nested DATA and
# Receipt (which the Token leaves out) and the token the page arrives at. Note the terminal key
# there is "MerchantTerminalKey", which is what makes the published token come out.
TBANK_DOCS_BODY = {
    "TerminalKey": "MerchantTerminalKey",
    "Amount": 19200,
    "OrderId": "21090",
    "Description": "Подарочная карта на 1000 рублей",
    "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
    "Receipt": {
        "Email": "a@test.ru",
        "Phone": "+79031234567",
        "Taxation": "osn",
        "Items": [{"Name": "Наименование товара 1", "Price": 10000, "Quantity": 1, "Amount": 10000, "Tax": "vat10"}],
    },
}
TBANK_DOCS_PASSWORD = "usaf8fw8fsw21g"
TBANK_DOCS_TOKEN = "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"


def test_tbank_token_matches_the_example_in_tbank_docs():
    assert token(TBANK_DOCS_BODY, TBANK_DOCS_PASSWORD) == TBANK_DOCS_TOKEN


def test_tbank_token_matches_the_spec_worked_by_hand():
    body = {"TerminalKey": "TinkoffBankTest", "Amount": 19200, "OrderId": "21090",
            "Description": "Подарочная карта на 1000 рублей"}
    # Sorted keys: Amount, Description, OrderId, Password, TerminalKey; values only.
    by_hand = "19200" "Подарочная карта на 1000 рублей" "21090" "usaf8fw8fsw21g" "TinkoffBankTest"
    assert token(body, TBANK_DOCS_PASSWORD) == hashlib.sha256(by_hand.encode("utf-8")).hexdigest()


def test_tbank_token_writes_booleans_as_true_false_and_leaves_out_token_itself():
    body = {"TerminalKey": "T", "Success": True, "Status": "CONFIRMED", "Token": "anything"}
    by_hand = "p" + "CONFIRMED" + "true" + "T"  # Password, Status, Success, TerminalKey
    assert token(body, "p") == hashlib.sha256(by_hand.encode()).hexdigest()
    assert token({**body, "Success": False}, "p") != token(body, "p")


def test_tbank_notification_with_a_changed_amount_is_refused():
    provider = TinkoffProvider({"terminal_key": "T", "password": "p"})
    notification = {"TerminalKey": "T", "OrderId": "o1", "Success": True, "Status": "CONFIRMED",
                    "PaymentId": 42, "ErrorCode": "0", "Amount": 1000}
    notification["Token"] = token(notification, "p")
    genuine = provider.verify_notification({}, json.dumps(notification).encode(), {}, "1.2.3.4")
    assert (genuine.status, genuine.payment_id, genuine.dedupe_key) == ("succeeded", "o1", "42:CONFIRMED")

    tampered = {**notification, "Amount": 100}
    with pytest.raises(NotificationForged):
        provider.verify_notification({}, json.dumps(tampered).encode(), {}, "1.2.3.4")


def test_tbank_notification_without_a_configured_password_is_refused():
    provider = TinkoffProvider({"terminal_key": "T", "password": ""})
    notification = {"TerminalKey": "T", "Status": "CONFIRMED", "PaymentId": 1}
    notification["Token"] = token(notification, "")
    with pytest.raises(NotificationForged):
        provider.verify_notification({}, json.dumps(notification).encode(), {}, "1.2.3.4")


# --- Sber callback checksum -------------------------------------------------------------------

SBER_KEY = "sber-callback-key"
SBER_CALLBACK = {"mdOrder": "3ff6962a-7dcc-4283-ab50-a6d7dd3386fe", "orderNumber": "pay-42",
                 "operation": "deposited", "status": "1"}


def _sber_checksum_by_hand(params, key):
    text = ("mdOrder;3ff6962a-7dcc-4283-ab50-a6d7dd3386fe;operation;deposited;"
            "orderNumber;pay-42;status;1;")
    assert params == SBER_CALLBACK
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_sber_checksum_matches_the_spec_worked_by_hand():
    assert checksum(SBER_CALLBACK, SBER_KEY) == _sber_checksum_by_hand(SBER_CALLBACK, SBER_KEY)


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_sber_checksum_is_accepted_in_either_case(case):
    params = {**SBER_CALLBACK, "checksum": case(_sber_checksum_by_hand(SBER_CALLBACK, SBER_KEY))}
    verify_checksum(params, SBER_KEY)


def test_sber_checksum_ignores_sign_alias():
    params = {**SBER_CALLBACK, "checksum": checksum(SBER_CALLBACK, SBER_KEY).upper(), "sign_alias": "SHA-256"}
    verify_checksum(params, SBER_KEY)


@pytest.mark.parametrize("tamper", [
    {"status": "0"},
    {"orderNumber": "pay-43"},
    {"operation": "refunded"},
    {"amount": "100"},  # a field added after signing
])
def test_sber_callback_with_a_tampered_parameter_is_refused(tamper):
    params = {**SBER_CALLBACK, "checksum": checksum(SBER_CALLBACK, SBER_KEY).upper(), **tamper}
    with pytest.raises(NotificationForged):
        verify_checksum(params, SBER_KEY)


def test_sber_callback_signed_with_another_key_or_unsigned_is_refused():
    with pytest.raises(NotificationForged):
        verify_checksum({**SBER_CALLBACK, "checksum": checksum(SBER_CALLBACK, "other-key")}, SBER_KEY)
    with pytest.raises(NotificationForged):
        verify_checksum(dict(SBER_CALLBACK), SBER_KEY)
    with pytest.raises(NotificationForged):  # no key configured: nothing can be proven
        verify_checksum({**SBER_CALLBACK, "checksum": checksum(SBER_CALLBACK, "")}, "")


# --- Our mock provider's Stripe-style signature -----------------------------------------------

SECRET = "mock-webhook-secret"
NOW = 1_760_000_000
BODY = b'{"id": "n1", "type": "payment.succeeded", "payment_id": "p1", "amount": 150050, "currency": "RUB"}'


def test_mock_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"
    verify_signature(SECRET, BODY, sign(SECRET, BODY, NOW), now=NOW)


def test_mock_signature_accepts_any_one_matching_v1_of_several():
    good = sign(SECRET, BODY, NOW).split(",v1=")[1]
    verify_signature(SECRET, BODY, f"t={NOW},v1={'0' * 64},v1={good}", now=NOW)


def test_mock_signature_made_with_another_secret_is_refused():
    with pytest.raises(NotificationForged):
        verify_signature(SECRET, BODY, sign("another-secret", BODY, NOW), now=NOW)


@pytest.mark.parametrize("age", [SIGNATURE_TOLERANCE_SECONDS + 1, -(SIGNATURE_TOLERANCE_SECONDS + 1)])
def test_mock_signature_too_old_or_from_the_future_is_refused(age):
    with pytest.raises(NotificationForged):
        verify_signature(SECRET, BODY, sign(SECRET, BODY, NOW - age), now=NOW)


def test_mock_signature_just_inside_the_tolerance_is_accepted():
    verify_signature(SECRET, BODY, sign(SECRET, BODY, NOW - SIGNATURE_TOLERANCE_SECONDS), now=NOW)


def test_mock_signature_over_a_tampered_body_is_refused():
    tampered = BODY.replace(b"150050", b"100")
    with pytest.raises(NotificationForged):
        verify_signature(SECRET, tampered, sign(SECRET, BODY, NOW), now=NOW)


@pytest.mark.parametrize("header", [None, "", "garbage", f"t={NOW}", "v1=abc", f"t=soon,v1={'0' * 64}",
                                    f"t={NOW},v1=", f"t={NOW},v1=ünïcode"])
def test_mock_signature_missing_or_garbled_is_refused(header):
    with pytest.raises(NotificationForged):
        verify_signature(SECRET, BODY, header, now=NOW)


def test_mock_signature_with_no_secret_configured_is_refused():
    with pytest.raises(NotificationForged):
        verify_signature("", BODY, sign("", BODY, NOW), now=NOW)


# --- The mock provider as the service uses it -------------------------------------------------

MOCK_SETTINGS = {"checkout_url": "http://127.0.0.1:8000/mock-checkout/{payment_id}", "webhook_secret": SECRET}


def test_mock_payment_sends_the_payer_to_our_checkout_page():
    payment = MockProvider(MOCK_SETTINGS).create_payment("p1", 150050, "RUB", "Зал А", "http://r", {})
    assert payment.provider_payment_id == "mock_p1"
    assert payment.status == "pending"
    assert payment.confirmation_url == "http://127.0.0.1:8000/mock-checkout/p1"


def test_mock_notification_built_by_the_checkout_verifies():
    body, headers = build_notification("p1", "succeeded", 150050, "RUB", SECRET)
    notification = MockProvider(MOCK_SETTINGS).verify_notification(headers, body, {}, "127.0.0.1")
    assert notification.status == "succeeded"
    assert notification.payment_id == "p1"
    assert notification.provider_payment_id == "mock_p1"
    assert (notification.amount, notification.currency) == (150050, "RUB")
    assert notification.dedupe_key == json.loads(body)["id"]


def test_mock_notification_header_name_is_case_insensitive_and_its_absence_refused():
    body, headers = build_notification("p1", "failed", 150050, "RUB", SECRET)
    provider = MockProvider(MOCK_SETTINGS)
    assert provider.verify_notification({"signature": headers["Signature"]}, body, {}, "").status == "failed"
    with pytest.raises(NotificationForged):
        provider.verify_notification({"Content-Type": "application/json"}, body, {}, "")


def test_mock_fetch_answers_from_the_service_state_or_says_it_has_none():
    with pytest.raises(ProviderError):
        MockProvider(MOCK_SETTINGS).fetch("mock_p1")
    states = {"p1": {"status": "succeeded", "amount": 150050, "currency": "RUB"}}
    payment = MockProvider(MOCK_SETTINGS, state_lookup=states.get).fetch("mock_p1")
    assert (payment.status, payment.amount) == ("succeeded", 150050)


@pytest.mark.parametrize("card, outcome", [("4242424242424242", "succeeded"),
                                           ("4242 4242 4242 4242", "succeeded"),
                                           ("4000000000000002", "failed")])
def test_mock_test_cards_decide_the_outcome(card, outcome):
    assert card_outcome(card) == outcome


def test_mock_any_other_card_is_refused():
    with pytest.raises(ValueError):
        card_outcome("5555555555554444")
