"""Each provider adapter against a local fake that checks what the real provider checks."""
import ipaddress
import json
import socket
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yookassa.domain.common import SecurityHelper
from yookassa.domain.request import PaymentRequest

from services.payments.providers import NotificationForged, ProviderError, build_provider
from services.payments.providers.yookassa import kopecks, rubles
from tests.fakes.providers import (
    FakeSber,
    FakeTinkoff,
    FakeYooKassa,
    WebhookEndpoint,
    sber_checksum,
    tbank_token,
)

RETURN_URL = "http://127.0.0.1:8000/booking/return"
LOCALHOST_ONLY = ["127.0.0.1/32"]


def new_payment_id():
    return str(uuid.uuid4())


@pytest.fixture
def stalled_url():
    """An address that accepts connections and never answers: the adapter must not hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_url():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


# --- YooKassa ---------------------------------------------------------------------------------


@pytest.fixture
def fake_yookassa():
    with FakeYooKassa(shop_id="123456", secret_key="test_secret") as fake:
        yield fake


def yookassa_settings(fake, **overrides):
    return {"api_url": fake.api_url, "shop_id": "123456", "secret_key": "test_secret",
            "allowed_networks": LOCALHOST_ONLY, "trust_forwarded_for": False, "timeout": 5, **overrides}


@pytest.fixture
def yookassa(fake_yookassa):
    provider = build_provider("yookassa", yookassa_settings(fake_yookassa))
    with WebhookEndpoint(provider) as endpoint:
        fake_yookassa.notify_url = endpoint.url + "/api/payments/webhook/yookassa"
        yield provider, endpoint


def test_yookassa_payment_is_created_paid_notified_and_fetched_as_succeeded(fake_yookassa, yookassa):
    provider, endpoint = yookassa
    payment_id = new_payment_id()

    created = provider.create_payment(payment_id, 150050, "RUB", "Зал «Лофт», 2 часа", RETURN_URL,
                                      {"booking_id": "b-1"})
    assert created.status == "pending"
    assert created.confirmation_url
    sent = fake_yookassa.requests_seen[-1]
    assert sent["headers"]["Idempotence-Key"] == payment_id
    body = json.loads(sent["body"])
    assert body["amount"] == {"value": "1500.50", "currency": "RUB"}
    assert body["capture"] is True
    assert body["confirmation"] == {"type": "redirect", "return_url": RETURN_URL}
    assert body["metadata"]["booking_id"] == "b-1" and body["metadata"]["payment_id"] == payment_id

    delivery = fake_yookassa.pay(created.provider_payment_id)
    assert delivery["status"] == 200
    [notification] = endpoint.accepted
    assert notification.status == "succeeded"
    assert notification.payment_id == payment_id
    assert notification.provider_payment_id == created.provider_payment_id
    assert notification.dedupe_key == f"payment.succeeded:{created.provider_payment_id}"
    assert (notification.amount, notification.currency) == (150050, "RUB")
    assert provider.must_fetch_after_notification

    fetched = provider.fetch(created.provider_payment_id)
    assert (fetched.status, fetched.amount, fetched.currency) == ("succeeded", 150050, "RUB")


def test_yookassa_same_idempotence_key_gives_the_same_payment(fake_yookassa, yookassa):
    provider, _ = yookassa
    payment_id = new_payment_id()
    first = provider.create_payment(payment_id, 100000, "RUB", "Prepayment", RETURN_URL, {"booking_id": "b"})
    again = provider.create_payment(payment_id, 100000, "RUB", "Prepayment", RETURN_URL, {"booking_id": "b"})
    assert again.provider_payment_id == first.provider_payment_id
    assert len(fake_yookassa.payments) == 1


def test_yookassa_canceled_payment_is_canceled(fake_yookassa, yookassa):
    provider, endpoint = yookassa
    created = provider.create_payment(new_payment_id(), 5000, "RUB", "d", RETURN_URL, {})
    fake_yookassa.cancel(created.provider_payment_id)
    assert endpoint.accepted[-1].status == "canceled"
    assert provider.fetch(created.provider_payment_id).status == "canceled"


def test_yookassa_refund_partial_then_full(fake_yookassa, yookassa):
    provider, endpoint = yookassa
    created = provider.create_payment(new_payment_id(), 150050, "RUB", "d", RETURN_URL, {})
    fake_yookassa.pay(created.provider_payment_id)

    partial = provider.refund(new_payment_id(), created.provider_payment_id, 50050, "RUB")
    assert (partial.status, partial.amount) == ("succeeded", 50050)
    assert json.loads(fake_yookassa.requests_seen[-1]["body"])["amount"]["value"] == "500.50"
    assert provider.fetch(created.provider_payment_id).status == "partially_refunded"

    rest = provider.refund(new_payment_id(), created.provider_payment_id, 100000, "RUB")
    assert (rest.status, rest.amount) == ("succeeded", 100000)
    assert provider.fetch(created.provider_payment_id).status == "refunded"
    # The refund notification names the payment, not ours: the service fetches to learn more.
    refund_note = endpoint.accepted[-1]
    assert refund_note.dedupe_key.startswith("refund.succeeded:")
    assert refund_note.provider_payment_id == created.provider_payment_id


def test_yookassa_refund_retried_with_the_same_key_refunds_once(fake_yookassa, yookassa):
    provider, _ = yookassa
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    fake_yookassa.pay(created.provider_payment_id)
    refund_id = new_payment_id()
    first = provider.refund(refund_id, created.provider_payment_id, 4000, "RUB")
    again = provider.refund(refund_id, created.provider_payment_id, 4000, "RUB")
    assert again.provider_refund_id == first.provider_refund_id
    assert provider.fetch(created.provider_payment_id).raw["refunded_amount"]["value"] == "40.00"


def test_yookassa_refund_beyond_the_payment_is_a_provider_error(fake_yookassa, yookassa):
    provider, _ = yookassa
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    fake_yookassa.pay(created.provider_payment_id)
    with pytest.raises(ProviderError, match="refused"):
        provider.refund(new_payment_id(), created.provider_payment_id, 10001, "RUB")


def test_yookassa_notification_from_outside_its_networks_is_refused(fake_yookassa):
    # The published networks only: the fake delivers from 127.0.0.1, which is not among them.
    provider = build_provider("yookassa", yookassa_settings(fake_yookassa, allowed_networks=None))
    assert provider.allowed_networks == [ipaddress.ip_network(n) for n in SecurityHelper.YOOKASSA_NETWORKS]
    with WebhookEndpoint(provider) as endpoint:
        fake_yookassa.notify_url = endpoint.url
        created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
        delivery = fake_yookassa.pay(created.provider_payment_id)
    assert delivery["status"] == 403
    assert endpoint.accepted == [] and len(endpoint.refused) == 1


def test_yookassa_notification_from_a_published_network_is_believed(fake_yookassa):
    provider = build_provider("yookassa", yookassa_settings(fake_yookassa, allowed_networks=None))
    body = json.dumps({"type": "notification", "event": "payment.succeeded",
                       "object": {"id": "p1", "status": "succeeded", "amount": {"value": "10.00", "currency": "RUB"},
                                  "metadata": {"payment_id": "ours"}}}).encode()
    assert provider.verify_notification({}, body, {}, "185.71.76.5").payment_id == "ours"
    assert provider.verify_notification({}, body, {}, "::ffff:185.71.76.5").amount == 1000
    for outsider in ("203.0.113.5", "185.71.78.1", "not an address", "", None):
        with pytest.raises(NotificationForged):
            provider.verify_notification({}, body, {}, outsider)


def test_yookassa_forwarded_for_is_read_only_when_trusted_and_only_its_last_hop(fake_yookassa):
    body = json.dumps({"type": "notification", "event": "payment.canceled",
                       "object": {"id": "p1", "status": "canceled",
                                  "amount": {"value": "10.00", "currency": "RUB"}}}).encode()
    behind_proxy = build_provider("yookassa", yookassa_settings(
        fake_yookassa, allowed_networks=None, trust_forwarded_for="true"))
    # Our proxy appended the real sender last.
    assert behind_proxy.verify_notification(
        {"X-Forwarded-For": "10.1.1.1, 185.71.76.5"}, body, {}, "10.0.0.2").status == "canceled"
    # A sender writing a YooKassa address first is still the sender the proxy saw.
    with pytest.raises(NotificationForged):
        behind_proxy.verify_notification({"x-forwarded-for": "185.71.76.5, 203.0.113.9"}, body, {}, "10.0.0.2")

    direct = build_provider("yookassa", yookassa_settings(fake_yookassa, allowed_networks=None))
    with pytest.raises(NotificationForged):
        direct.verify_notification({"X-Forwarded-For": "185.71.76.5"}, body, {}, "203.0.113.9")


def test_yookassa_notification_that_is_not_its_json_is_refused(fake_yookassa):
    provider = build_provider("yookassa", yookassa_settings(fake_yookassa))
    for body in (b"not json", b"[]", b'{"type": "notification"}', b'{"event": "payment.succeeded", "object": {}}'):
        with pytest.raises(NotificationForged):
            provider.verify_notification({}, body, {}, "127.0.0.1")


def test_yookassa_amounts_convert_exactly():
    assert rubles(150050) == "1500.50"
    assert rubles(100) == "1.00"
    assert rubles(7) == "0.07"
    assert kopecks("1500.50") == 150050
    with pytest.raises(ProviderError):
        kopecks("1.005")
    for not_kopecks in (15.5, "100", 0, -1, True):
        with pytest.raises(ValueError):
            rubles(not_kopecks)


@given(st.integers(min_value=1, max_value=10**13))
def test_yookassa_amount_survives_the_sdk_unchanged(amount):
    # The SDK passes the value through float(); this proves no kopeck is lost on the way.
    request = PaymentRequest({"amount": {"value": rubles(amount), "currency": "RUB"}})
    sent = dict(request)["amount"]["value"]
    assert sent == rubles(amount)
    assert kopecks(sent) == amount


# --- T-Bank (Tinkoff) -------------------------------------------------------------------------


@pytest.fixture
def fake_tinkoff():
    with FakeTinkoff(terminal_key="StudioTerminalDEMO", password="tbank_password") as fake:
        yield fake


def tinkoff_settings(fake, **overrides):
    return {"api_url": fake.api_url, "terminal_key": "StudioTerminalDEMO",
            "password": "tbank_password", "timeout": 5, **overrides}


@pytest.fixture
def tinkoff(fake_tinkoff):
    provider = build_provider("tinkoff", tinkoff_settings(fake_tinkoff))
    with WebhookEndpoint(provider) as endpoint:
        provider.notification_url = endpoint.url + "/api/payments/webhook/tinkoff"
        yield provider, endpoint


def test_tinkoff_payment_is_created_paid_notified_and_fetched_as_succeeded(fake_tinkoff, tinkoff):
    provider, endpoint = tinkoff
    payment_id = new_payment_id()
    created = provider.create_payment(payment_id, 150050, "RUB", "Зал «Лофт»" * 30, RETURN_URL, {"booking_id": "b"})
    assert created.status == "pending"
    assert created.confirmation_url
    init = fake_tinkoff.requests_seen[-1]["body"]
    assert init["OrderId"] == payment_id and init["Amount"] == 150050
    assert len(init["Description"]) == 140
    assert init["SuccessURL"] == init["FailURL"] == RETURN_URL
    assert init["NotificationURL"] == provider.notification_url

    delivery = fake_tinkoff.pay(created.provider_payment_id)
    assert delivery["accepted"], delivery  # HTTP 200 and the body exactly "OK"
    [notification] = endpoint.accepted
    assert notification.status == "succeeded"
    assert notification.payment_id == payment_id
    assert notification.provider_payment_id == created.provider_payment_id
    assert notification.dedupe_key == f"{created.provider_payment_id}:CONFIRMED"
    assert notification.amount == 150050
    assert provider.notification_reply() == (200, "text/plain", "OK")

    assert provider.fetch(created.provider_payment_id).status == "succeeded"


def test_tinkoff_refund_partial_then_full(fake_tinkoff, tinkoff):
    provider, _ = tinkoff
    created = provider.create_payment(new_payment_id(), 150050, "RUB", "d", RETURN_URL, {})
    fake_tinkoff.pay(created.provider_payment_id)

    refund_id = new_payment_id()
    partial = provider.refund(refund_id, created.provider_payment_id, 50050, "RUB")
    assert (partial.status, partial.amount) == ("succeeded", 50050)
    cancel = fake_tinkoff.requests_seen[-1]["body"]
    assert (cancel["Amount"], cancel["ExternalRequestId"]) == (50050, refund_id)
    assert provider.fetch(created.provider_payment_id).status == "partially_refunded"

    # A retried refund is the same refund, not another one.
    provider.refund(refund_id, created.provider_payment_id, 50050, "RUB")
    assert fake_tinkoff.payments[created.provider_payment_id]["Refunded"] == 50050

    provider.refund(new_payment_id(), created.provider_payment_id, 100000, "RUB")
    assert provider.fetch(created.provider_payment_id).status == "refunded"


def test_tinkoff_forged_notifications_are_refused(fake_tinkoff, tinkoff):
    provider, endpoint = tinkoff
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    genuine = fake_tinkoff.notification_for(created.provider_payment_id)

    for forged in (
        {**genuine, "Status": "CONFIRMED", "Amount": 1},  # changed after signing
        {k: v for k, v in genuine.items() if k != "Token"},  # unsigned
        {**genuine, "Token": genuine["Token"][:-1]},
    ):
        with pytest.raises(NotificationForged):
            provider.verify_notification({}, json.dumps(forged).encode(), {}, "127.0.0.1")

    other_terminal = {**genuine, "TerminalKey": "SomeoneElse"}
    other_terminal["Token"] = tbank_token(other_terminal, "tbank_password")
    with pytest.raises(NotificationForged):
        provider.verify_notification({}, json.dumps(other_terminal).encode(), {}, "127.0.0.1")

    for body in (b"not json", b"[1]"):
        with pytest.raises(NotificationForged):
            provider.verify_notification({}, body, {}, "127.0.0.1")


# --- Sber acquiring ---------------------------------------------------------------------------


@pytest.fixture
def fake_sber():
    with FakeSber(username="studio-api", password="sber_password", callback_key="sber_callback_key") as fake:
        yield fake


def sber_settings(fake, **overrides):
    return {"api_url": fake.api_url, "username": "studio-api", "password": "sber_password",
            "callback_key": "sber_callback_key", "session_timeout_secs": 900, "timeout": 5, **overrides}


@pytest.fixture
def sberpay(fake_sber):
    provider = build_provider("sberpay", sber_settings(fake_sber))
    with WebhookEndpoint(provider) as endpoint:
        fake_sber.callback_url = endpoint.url + "/api/payments/webhook/sberpay"
        yield provider, endpoint


def test_sber_order_is_registered_paid_called_back_and_fetched_as_succeeded(fake_sber, sberpay):
    provider, endpoint = sberpay
    payment_id = new_payment_id()
    created = provider.create_payment(payment_id, 150050, "RUB", "Зал «Лофт»", RETURN_URL, {"booking_id": "b"})
    assert created.status == "pending"
    assert created.confirmation_url and created.provider_payment_id in created.confirmation_url
    form = fake_sber.requests_seen[-1]["form"]
    assert (form["orderNumber"], form["amount"], form["currency"]) == (payment_id, "150050", "643")
    assert form["sessionTimeoutSecs"] == "900"
    assert form["returnUrl"] == form["failUrl"] == RETURN_URL

    delivery = fake_sber.pay(created.provider_payment_id)
    assert (delivery["status"], delivery["body"]) == (200, "OK")
    [notification] = endpoint.accepted
    assert notification.provider_payment_id == created.provider_payment_id
    assert notification.payment_id == payment_id
    assert notification.status == "succeeded"
    assert notification.dedupe_key == f"{created.provider_payment_id}:deposited:1"
    assert provider.must_fetch_after_notification

    fetched = provider.fetch(created.provider_payment_id)
    assert (fetched.status, fetched.amount, fetched.currency) == ("succeeded", 150050, "RUB")


def test_sber_callback_posted_as_a_form_verifies_too(fake_sber, sberpay):
    provider, _ = sberpay
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    params = fake_sber.callback_params(created.provider_payment_id)
    body = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    notification = provider.verify_notification({"Content-Type": "application/x-www-form-urlencoded"}, body, {}, "")
    assert notification.status == "succeeded"


def test_sber_forged_callbacks_are_refused(fake_sber, sberpay):
    provider, endpoint = sberpay
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    genuine = fake_sber.callback_params(created.provider_payment_id)
    forged_cases = [
        {**genuine, "orderNumber": "someone-elses-payment"},
        {**genuine, "operation": "deposited", "status": "1", "mdOrder": "other-order"},
        {k: v for k, v in genuine.items() if k != "checksum"},
        {**genuine, "checksum": sber_checksum({k: v for k, v in genuine.items() if k != "checksum"}, "other key")},
        {**genuine, "checksum": [genuine["checksum"], genuine["checksum"]]},
    ]
    for params in forged_cases:
        with pytest.raises(NotificationForged):
            provider.verify_notification({}, b"", params, "127.0.0.1")
    assert provider.verify_notification({}, b"", {k: [v] for k, v in genuine.items()}, "").status == "succeeded"


def test_sber_refund_partial_then_full(fake_sber, sberpay):
    provider, _ = sberpay
    created = provider.create_payment(new_payment_id(), 150050, "RUB", "d", RETURN_URL, {})
    fake_sber.pay(created.provider_payment_id)

    partial = provider.refund(new_payment_id(), created.provider_payment_id, 50050, "RUB")
    assert (partial.status, partial.amount) == ("succeeded", 50050)
    assert fake_sber.requests_seen[-1]["form"]["amount"] == "50050"
    assert provider.fetch(created.provider_payment_id).status == "partially_refunded"

    provider.refund(new_payment_id(), created.provider_payment_id, 100000, "RUB")
    assert provider.fetch(created.provider_payment_id).status == "refunded"

    with pytest.raises(ProviderError, match="refused to refund"):
        provider.refund(new_payment_id(), created.provider_payment_id, 1, "RUB")


# --- All of them ------------------------------------------------------------------------------

# provider name -> (its fake's fixture, settings for that fake, where its orders are kept)
PROVIDERS = {
    "yookassa": ("fake_yookassa", yookassa_settings, "payments"),
    "tinkoff": ("fake_tinkoff", tinkoff_settings, "payments"),
    "sberpay": ("fake_sber", sber_settings, "orders"),
}


@pytest.mark.parametrize("name, secret, refusal", [
    ("yookassa", "secret_key", "invalid_credentials"),
    ("tinkoff", "password", "error 204"),
    ("sberpay", "password", "error 5"),
])
def test_wrong_credentials_are_a_provider_error_that_shows_no_secret(request, name, secret,
                                                                     refusal):
    fake_fixture, settings, _ = PROVIDERS[name]
    fake = request.getfixturevalue(fake_fixture)
    provider = build_provider(name, settings(fake, **{secret: "s3cr3t-not-this-one"}))
    with pytest.raises(ProviderError, match=refusal) as refused:
        provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize("name, path, credentials", [
    ("yookassa", "/v3", {"shop_id": "1", "secret_key": "s"}),
    ("tinkoff", "", {"terminal_key": "T", "password": "p"}),
    ("sberpay", "/payment/rest/", {}),
])
def test_an_unreachable_or_silent_provider_is_a_provider_error(closed_url, stalled_url, name,
                                                               path, credentials):
    with pytest.raises(ProviderError, match="unreachable"):
        build_provider(name, {"api_url": closed_url + path, **credentials}).fetch("p1")
    silent = build_provider(name, {"api_url": stalled_url + path, **credentials, "timeout": 0.3})
    with pytest.raises(ProviderError, match="did not answer"):
        silent.fetch("p1")


@pytest.mark.parametrize("name, refusal", [("tinkoff", "error 8"), ("sberpay", "error 1")])
def test_a_repeated_order_id_is_refused_so_nothing_is_charged_twice(request, name, refusal):
    fake_fixture, _, orders = PROVIDERS[name]
    provider, _ = request.getfixturevalue(name)
    payment_id = new_payment_id()
    provider.create_payment(payment_id, 10000, "RUB", "d", RETURN_URL, {})
    with pytest.raises(ProviderError, match=refusal):
        provider.create_payment(payment_id, 10000, "RUB", "d", RETURN_URL, {})
    assert len(getattr(request.getfixturevalue(fake_fixture), orders)) == 1


@pytest.mark.parametrize("name", ["tinkoff", "sberpay"])
def test_a_declined_payment_is_failed_as_notified_and_as_fetched(request, name):
    provider, endpoint = request.getfixturevalue(name)
    created = provider.create_payment(new_payment_id(), 10000, "RUB", "d", RETURN_URL, {})
    request.getfixturevalue(PROVIDERS[name][0]).decline(created.provider_payment_id)
    assert endpoint.accepted[-1].status == "failed"
    assert provider.fetch(created.provider_payment_id).status == "failed"


def test_unknown_provider_name_is_refused():
    with pytest.raises(ValueError, match="unknown payment provider"):
        build_provider("paypal", {})
