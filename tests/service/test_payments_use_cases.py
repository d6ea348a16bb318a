"""The payments use cases against a real PostgreSQL database and the fake providers.

The fakes send their real notifications to a local endpoint that hands them to
`webhooks.handle_webhook`, as the gateway does over RPC. The booking service is stood in
for by `Bookings`: the views its get_booking would answer, and its token check.
"""
import base64
import json
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from contracts.errors.base import AccessDenied, InvalidRequest
from contracts.errors.booking import BookingNotFound
from contracts.errors.payments import (
    BookingNotPayable,
    IdempotencyKeyReused,
    PaymentInProgress,
    PaymentProviderFailed,
    RefundExceedsPayment,
    UnknownGateway,
    WebhookForged,
)
from services.payments import creating, mock_checkout, refunds, views, webhooks
from services.payments.config import Gateways, Settings
from services.payments.models import IdempotencyKeyRow
from tests.service.conftest import adapters

RETURN_URL = "http://127.0.0.1:8000/booking/return"
PRICE, PREPAYMENT = 480000, 144000


def now():
    return datetime.now(timezone.utc)


# --- the world around the payments service -------------------------------------------------------

class Bookings:
    """Stands in for the booking service's get_booking(booking_id, access_token)."""

    def __init__(self):
        self.views, self.tokens = {}, {}

    def add(self, status="pending_payment", price_total=PRICE, prepayment_amount=PREPAYMENT,
            amount_paid=0):
        booking_id = str(uuid.uuid4())
        self.tokens[booking_id] = secrets.token_urlsafe(16)
        self.views[booking_id] = {
            "id": booking_id, "hall_name": "Loft", "start": "2026-12-10T10:00:00+03:00",
            "status": status, "price_total": price_total, "prepayment_amount": prepayment_amount,
            "amount_paid": amount_paid, "currency": "RUB"}
        return booking_id

    def __call__(self, booking_id, access_token=None):
        if booking_id not in self.views:
            raise BookingNotFound(f"There is no booking {booking_id}.")
        if access_token is not None and access_token != self.tokens[booking_id]:
            raise AccessDenied("This token does not open this booking.")
        return dict(self.views[booking_id])


SETTINGS = Settings(env="test", default_return_url=RETURN_URL)


@pytest.fixture
def bookings():
    return Bookings()


def create(sessions, gateways, bookings, booking_id, gateway, kind="prepayment", key=None,
           token=None, at=None, return_url=RETURN_URL):
    return creating.create_payment(
        sessions, gateways, bookings, SETTINGS,
        {"booking_id": booking_id, "kind": kind, "gateway": gateway, "return_url": return_url},
        at or now(), idempotency_key=key, access_token=token)


def payment(sessions, payment_id):
    return views.get_payment(sessions, None, payment_id)


def events(sessions, payment_id, event_type=None):
    with sessions() as session:
        return [row.envelope for row in session.execute(text(
            "SELECT envelope FROM outbox WHERE envelope->'payload'->>'payment_id' = :p "
            "AND (CAST(:t AS text) IS NULL OR type = :t) ORDER BY id"),
            {"p": payment_id, "t": event_type})]


def event_types(sessions, payment_id):
    return [e["type"] for e in events(sessions, payment_id)]


def notifications_recorded(sessions, payment_id):
    with sessions() as session:
        return session.execute(text("SELECT count(*) FROM provider_notifications "
                                    "WHERE payment_id = :p"), {"p": payment_id}).scalar()


def webhook(sessions, gateways, name, body, headers=None, query=None, remote_addr="127.0.0.1"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return webhooks.handle_webhook(sessions, gateways, name, headers or {},
                                     base64.b64encode(raw).decode(), query or {}, remote_addr,
                                     now())


# --- YooKassa ------------------------------------------------------------------------------------

def test_yookassa_payment_is_created_paid_fetched_back_and_announced(sessions, gateways, fakes,
                                                                       bookings):
    fake = fakes["yookassa"]
    booking_id = bookings.add()
    created = create(sessions, gateways, bookings, booking_id, "yookassa")
    assert created["status"] == "pending" and created["amount"] == PREPAYMENT
    assert created["confirmation_url"].startswith(fake.url)
    sent = fake.requests_seen[-1]
    assert sent["headers"]["Idempotence-Key"] == created["id"]
    assert json.loads(sent["body"])["amount"] == {"value": "1440.00", "currency": "RUB"}

    provider_id = payment(sessions, created["id"])["provider_payment_id"]
    delivery = fake.pay(provider_id)
    assert delivery["status"] == 200
    assert payment(sessions, created["id"])["status"] == "succeeded"
    [event] = events(sessions, created["id"])
    assert event["type"] == "payment.succeeded" and event["source"] == "payments"
    assert event["payload"] == {
        "payment_id": created["id"], "booking_id": booking_id, "kind": "prepayment",
        "amount": PREPAYMENT, "currency": "RUB", "gateway": "yookassa", "status": "succeeded",
        "refunded_amount": 0}
    # The fetch happened: a GET of the payment after the notification.
    assert any(r["method"] == "GET" and r["path"].endswith(provider_id)
               for r in fake.requests_seen)


def test_yookassa_duplicate_notification_has_one_effect(sessions, gateways, fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa")
    fake.pay(payment(sessions, created["id"])["provider_payment_id"])
    again = fake._deliver("POST", fake.notify_url, json=fake.deliveries[-1]["json"])
    assert again["status"] == 200
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]
    assert notifications_recorded(sessions, created["id"]) == 1


def test_yookassa_notification_from_an_outside_address_changes_nothing(sessions, gateways,
                                                                      fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa")
    provider_id = payment(sessions, created["id"])["provider_payment_id"]
    with fake.lock:
        fake.payments[provider_id]["status"] = "succeeded"  # even if it were true
        subject = json.loads(json.dumps(fake.payments[provider_id]))
    body = {"type": "notification", "event": "payment.succeeded", "object": subject}
    with pytest.raises(WebhookForged):
        webhook(sessions, gateways, "yookassa", body, remote_addr="203.0.113.7")
    assert payment(sessions, created["id"])["status"] == "pending"
    assert event_types(sessions, created["id"]) == []
    assert notifications_recorded(sessions, created["id"]) == 0


def test_yookassa_claim_not_borne_out_by_the_api_changes_nothing_and_blocks_nothing(
        sessions, gateways, fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa")
    provider_id = payment(sessions, created["id"])["provider_payment_id"]
    with fake.lock:
        claim = {**json.loads(json.dumps(fake.payments[provider_id])), "status": "succeeded"}
    body = {"type": "notification", "event": "payment.succeeded", "object": claim}
    assert webhook(sessions, gateways, "yookassa", body)["status"] == 200
    assert payment(sessions, created["id"])["status"] == "pending"  # the API says pending
    fake.pay(provider_id)  # the genuine one is not taken for a repeat of the claim
    assert payment(sessions, created["id"])["status"] == "succeeded"
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]


def test_yookassa_amount_mismatch_never_succeeds_and_alerts_operators(sessions, gateways, fakes,
                                                                     bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa")
    provider_id = payment(sessions, created["id"])["provider_payment_id"]
    with fake.lock:
        fake.payments[provider_id]["amount"] = {"value": "1.00", "currency": "RUB"}
    fake.pay(provider_id)
    assert payment(sessions, created["id"])["status"] == "amount_mismatch"
    [alert] = events(sessions, created["id"])
    assert alert["type"] == "payment.amount_mismatch"
    assert alert["payload"]["reported_amount"] == 100 and alert["payload"]["amount"] == PREPAYMENT


def test_yookassa_refund_partial_then_full_and_never_more(sessions, gateways, fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa", kind="full")
    fake.pay(payment(sessions, created["id"])["provider_payment_id"])
    first = refunds.refund(sessions, gateways, created["id"], now(), amount=80000,
                              reason="shorter session", request_id="yk-r1")
    assert first["refund"]["status"] == "succeeded"
    assert first["payment"]["status"] == "partially_refunded"
    assert first["payment"]["refunded_amount"] == 80000
    sent = [r for r in fake.requests_seen if r["path"] == "/v3/refunds"][-1]
    assert sent["headers"]["Idempotence-Key"] == first["refund"]["id"]
    with pytest.raises(RefundExceedsPayment):
        refunds.refund(sessions, gateways, created["id"], now(), amount=PRICE)
    rest = refunds.refund(sessions, gateways, created["id"], now(), request_id="yk-r2")
    assert rest["refund"]["amount"] == PRICE - 80000
    assert rest["payment"]["status"] == "refunded"
    refunded = events(sessions, created["id"], "payment.refunded")
    assert [(e["payload"]["refund_amount"], e["payload"]["refunded_amount"])
            for e in refunded] == [(80000, 80000), (PRICE - 80000, PRICE)]


def test_a_pending_yookassa_refund_is_asked_after_until_it_is_done(sessions, gateways, fakes,
                                                                    bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa", kind="full")
    fake.pay(payment(sessions, created["id"])["provider_payment_id"])
    fake.refunds_pending = True
    try:
        started = refunds.refund(sessions, gateways, created["id"], now(), amount=50000,
                                    request_id=f"slow-{uuid.uuid4()}")
        assert started["refund"]["status"] == "pending"
        assert started["payment"]["status"] == "succeeded"   # nothing moved yet...
        with pytest.raises(RefundExceedsPayment):             # ...but the amount is reserved
            refunds.refund(sessions, gateways, created["id"], now(), amount=PRICE)
        refund_id = started["refund"]["id"]
        later = now() + SETTINGS.reconcile_after + timedelta(seconds=1)
        assert refunds.reconcile_refunds(sessions, gateways, SETTINGS, now()) \
            .get(refund_id) is None                           # not due yet
        assert refunds.reconcile_refunds(sessions, gateways, SETTINGS, later)[
            refund_id] == "pending"                           # YooKassa: still working
        fake.settle_refunds()
        much_later = later + SETTINGS.reconcile_after + timedelta(seconds=1)
        assert refunds.reconcile_refunds(sessions, gateways, SETTINGS, much_later)[
            refund_id] == "succeeded"
    finally:
        fake.refunds_pending = False
    settled = payment(sessions, created["id"])
    assert (settled["status"], settled["refunded_amount"]) == ("partially_refunded", 50000)
    looked_up = [r for r in fake.requests_seen
                 if r["method"] == "GET" and r["path"].startswith("/v3/refunds/")]
    assert len(looked_up) == 2 and len(events(sessions, created["id"], "payment.refunded")) == 1
    assert refunds.reconcile_refunds(sessions, gateways, SETTINGS, much_later + timedelta(
        hours=1)).get(refund_id) is None                      # done: never asked again


def test_a_refund_the_provider_refuses_alerts_operators_and_frees_the_amount(sessions, gateways,
                                                                           fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa", kind="full")
    fake.pay(payment(sessions, created["id"])["provider_payment_id"])
    fake.refunds_pending = True
    try:
        started = refunds.refund(sessions, gateways, created["id"], now(), amount=PRICE,
                                    request_id=f"refused-{uuid.uuid4()}")
        fake.settle_refunds(refused=True)
    finally:
        fake.refunds_pending = False
    later = now() + SETTINGS.reconcile_after + timedelta(seconds=1)
    assert refunds.reconcile_refunds(sessions, gateways, SETTINGS, later)[
        started["refund"]["id"]] == "failed"
    [alert] = events(sessions, created["id"], "payment.refund_failed")
    assert (alert["payload"]["refund_id"], alert["payload"]["refund_amount"]) == (
        started["refund"]["id"], PRICE)
    assert payment(sessions, created["id"])["status"] == "succeeded"
    again = refunds.refund(sessions, gateways, created["id"], now(), request_id="refused-2")
    assert again["refund"]["status"] == "succeeded" and again["refund"]["amount"] == PRICE


def test_a_refund_made_in_the_yookassa_dashboard_is_taken_into_account(sessions, gateways,
                                                                        fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa", kind="full")
    provider_id = payment(sessions, created["id"])["provider_payment_id"]
    fake.pay(provider_id)
    [delivery] = fake.refund_in_dashboard(provider_id, "1000.00")
    assert delivery["status"] == 200
    seen = payment(sessions, created["id"])
    assert (seen["status"], seen["refunded_amount"]) == ("partially_refunded", 100000)
    [refunded] = events(sessions, created["id"], "payment.refunded")
    assert refunded["payload"]["refund_amount"] == 100000
    again = fake._deliver("POST", fake.notify_url, json=fake.deliveries[-1]["json"])
    assert again["status"] == 200                              # a repeat changes nothing
    assert len(events(sessions, created["id"], "payment.refunded")) == 1
    with pytest.raises(RefundExceedsPayment):                  # what is left is all we refund
        refunds.refund(sessions, gateways, created["id"], now(), amount=PRICE - 100000 + 1)
    ours = refunds.refund(sessions, gateways, created["id"], now(), request_id="dash-rest")
    assert ours["refund"]["amount"] == PRICE - 100000
    assert ours["payment"]["status"] == "refunded"
    # our own refund's notification is not mistaken for another one made by hand
    assert len(events(sessions, created["id"], "payment.refunded")) == 2


# --- T-Bank --------------------------------------------------------------------------------------

def tinkoff_payment(sessions, gateways, bookings, fake, **kwargs):
    created = create(sessions, gateways, bookings, bookings.add(), "tinkoff", **kwargs)
    return created, payment(sessions, created["id"])["provider_payment_id"]


def test_tinkoff_payment_is_paid_by_its_signed_notification_answered_ok(sessions, gateways,
                                                                       fakes, bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    init = [r for r in fake.requests_seen if r["path"] == "/v2/Init"][-1]["body"]
    assert init["OrderId"] == created["id"] and init["Amount"] == PREPAYMENT
    delivery = fake.pay(provider_id)
    assert delivery["accepted"], delivery  # HTTP 200 with the body exactly "OK"
    assert payment(sessions, created["id"])["status"] == "succeeded"
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]


def test_tinkoff_decline_fails_the_payment(sessions, gateways, fakes, bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    assert fake.decline(provider_id)["accepted"]
    assert payment(sessions, created["id"])["status"] == "failed"
    [failed] = events(sessions, created["id"])
    assert failed["type"] == "payment.failed" and failed["payload"]["status"] == "failed"


def test_tinkoff_forged_token_changes_nothing_and_a_repeat_has_one_effect(sessions, gateways,
                                                                         fakes, bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    with fake.lock:
        fake.payments[provider_id]["Status"] = "CONFIRMED"
    genuine = fake.notification_for(provider_id)
    for forged in ({**genuine, "Token": "0" * 64},
                   {**genuine, "Amount": genuine["Amount"] - 1},   # Token over other values
                   {k: v for k, v in genuine.items() if k != "Token"}):
        with pytest.raises(WebhookForged):
            webhook(sessions, gateways, "tinkoff", forged)
    assert payment(sessions, created["id"])["status"] == "pending"
    for _ in range(3):
        assert webhook(sessions, gateways, "tinkoff", genuine)["body"] == "OK"
    assert payment(sessions, created["id"])["status"] == "succeeded"
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]


def test_tinkoff_amount_mismatch_never_succeeds(sessions, gateways, fakes, bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    with fake.lock:
        fake.payments[provider_id]["Amount"] = 100
    fake.pay(provider_id)
    assert payment(sessions, created["id"])["status"] == "amount_mismatch"
    assert event_types(sessions, created["id"]) == ["payment.amount_mismatch"]


def test_tinkoff_refund_is_idempotent_by_request_id(sessions, gateways, fakes, bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    fake.pay(provider_id)
    first = refunds.refund(sessions, gateways, created["id"], now(), amount=44000,
                              request_id="tb-r1")
    again = refunds.refund(sessions, gateways, created["id"], now(), amount=44000,
                              request_id="tb-r1")
    assert again["refund"] == first["refund"]
    cancels = [r["body"] for r in fake.requests_seen if r["path"] == "/v2/Cancel"
               and r["body"]["PaymentId"] == provider_id]
    assert len(cancels) == 1 and cancels[0]["ExternalRequestId"] == first["refund"]["id"]
    assert first["payment"]["status"] == "partially_refunded"
    with pytest.raises(IdempotencyKeyReused):
        refunds.refund(sessions, gateways, created["id"], now(), amount=1000,
                          request_id="tb-r1")
    assert event_types(sessions, created["id"]) == ["payment.succeeded", "payment.refunded"]


# --- Sber ----------------------------------------------------------------------------------------

def test_sber_payment_is_paid_by_a_checked_callback_confirmed_by_the_api(sessions, gateways,
                                                                        fakes, bookings):
    fake = fakes["sberpay"]
    created = create(sessions, gateways, bookings, bookings.add(), "sberpay")
    register = [r for r in fake.requests_seen if r["path"].endswith("register.do")][-1]["form"]
    assert register["orderNumber"] == created["id"] and register["amount"] == str(PREPAYMENT)
    order_id = payment(sessions, created["id"])["provider_payment_id"]
    assert fake.pay(order_id)["status"] == 200
    assert payment(sessions, created["id"])["status"] == "succeeded"
    refunded = refunds.refund(sessions, gateways, created["id"], now(), amount=4000)
    assert refunded["payment"]["status"] == "partially_refunded"
    assert event_types(sessions, created["id"]) == ["payment.succeeded", "payment.refunded"]


def test_sber_callback_with_a_bad_checksum_changes_nothing(sessions, gateways, fakes, bookings):
    fake = fakes["sberpay"]
    created = create(sessions, gateways, bookings, bookings.add(), "sberpay")
    order_id = payment(sessions, created["id"])["provider_payment_id"]
    with fake.lock:
        fake.orders[order_id].update(orderStatus=2, deposited=PREPAYMENT)
    params = fake.callback_params(order_id)
    params["checksum"] = "A" * 64
    with pytest.raises(WebhookForged):
        webhook(sessions, gateways, "sberpay", b"", query={k: [v] for k, v in params.items()})
    assert payment(sessions, created["id"])["status"] == "pending"
    assert notifications_recorded(sessions, created["id"]) == 0


def test_sber_decline_fails_the_payment(sessions, gateways, fakes, bookings):
    fake = fakes["sberpay"]
    created = create(sessions, gateways, bookings, bookings.add(), "sberpay")
    fake.decline(payment(sessions, created["id"])["provider_payment_id"])
    assert payment(sessions, created["id"])["status"] == "failed"
    assert event_types(sessions, created["id"]) == ["payment.failed"]


def test_unknown_gateway_webhook_is_404(sessions, gateways):
    with pytest.raises(UnknownGateway):
        webhook(sessions, gateways, "paypal", {})
    with pytest.raises(UnknownGateway):  # the mock does not exist outside PAYMENT_ENV=mock
        webhook(sessions, gateways, "mock", {})


# --- reconciliation ------------------------------------------------------------------------------

def sweep(sessions, gateways, at):
    """One reconciliation run at `at`, over every pending payment of this module's database."""
    return webhooks.reconcile(sessions, gateways, SETTINGS, at, limit=1000)


def test_reconciliation_settles_a_payment_whose_webhook_was_lost(sessions, gateways, fakes,
                                                                bookings):
    fake = fakes["tinkoff"]
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fake)
    with fake.lock:
        fake.payments[provider_id]["Status"] = "CONFIRMED"  # paid; the notification is lost
    soon = now() + timedelta(minutes=1)
    assert created["id"] not in sweep(sessions, gateways, soon)
    later = now() + SETTINGS.reconcile_after + timedelta(seconds=1)
    assert sweep(sessions, gateways, later)[created["id"]] == "succeeded"
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]


def test_reconciliation_cancels_what_nobody_paid_in_time_and_late_money_still_counts(
        sessions, gateways, fakes, bookings):
    fake = fakes["yookassa"]
    created = create(sessions, gateways, bookings, bookings.add(), "yookassa")
    expired = now() + SETTINGS.pending_lifetime + timedelta(seconds=1)
    assert sweep(sessions, gateways, expired)[created["id"]] == "canceled"
    [failed] = events(sessions, created["id"])
    assert failed["type"] == "payment.failed" and failed["payload"]["status"] == "canceled"
    fake.pay(payment(sessions, created["id"])["provider_payment_id"])  # the payer was late
    assert payment(sessions, created["id"])["status"] == "succeeded"
    assert event_types(sessions, created["id"]) == ["payment.failed", "payment.succeeded"]


# --- the rules of creating a payment -------------------------------------------------------------

def test_amount_comes_from_the_booking_for_each_kind(sessions, gateways, bookings):
    fresh = bookings.add()
    assert create(sessions, gateways, bookings, fresh, "tinkoff")["amount"] == PREPAYMENT
    assert create(sessions, gateways, bookings, fresh, "tinkoff",
                  kind="full")["amount"] == PRICE
    with pytest.raises(BookingNotPayable):  # nothing prepaid yet
        create(sessions, gateways, bookings, fresh, "tinkoff", kind="remainder")
    prepaid = bookings.add(status="confirmed", amount_paid=PREPAYMENT)
    assert create(sessions, gateways, bookings, prepaid, "tinkoff",
                  kind="remainder")["amount"] == PRICE - PREPAYMENT
    with pytest.raises(BookingNotPayable) as refused:
        create(sessions, gateways, bookings, prepaid, "tinkoff")
    assert refused.value.code == "booking_not_payable"


@pytest.mark.parametrize("status, paid", [("cancelled", 0), ("expired", 0), ("completed", PRICE),
                                          ("confirmed", PRICE)])
def test_a_booking_that_takes_no_payment_is_409(sessions, gateways, bookings, status, paid):
    booking_id = bookings.add(status=status, amount_paid=paid)
    with pytest.raises(BookingNotPayable):
        create(sessions, gateways, bookings, booking_id, "tinkoff", kind="full")


def test_a_payment_started_before_the_booking_stopped_taking_one_is_still_the_answer(
        sessions, gateways, bookings):
    booking_id = bookings.add()
    started = create(sessions, gateways, bookings, booking_id, "tinkoff")
    bookings.views[booking_id]["status"] = "cancelled"
    assert create(sessions, gateways, bookings, booking_id, "tinkoff") == started
    with pytest.raises(BookingNotPayable):  # no payment of this kind was started
        create(sessions, gateways, bookings, booking_id, "tinkoff", kind="full")


def test_a_prepayment_already_taken_here_is_not_asked_twice(sessions, gateways, fakes, bookings):
    created, provider_id = tinkoff_payment(sessions, gateways, bookings, fakes["tinkoff"])
    fakes["tinkoff"].pay(provider_id)  # the booking has not recorded it yet
    with pytest.raises(BookingNotPayable):
        create(sessions, gateways, bookings, created["booking_id"], "tinkoff")


def test_the_payer_is_only_sent_back_to_the_studios_own_hosts(sessions, gateways, bookings):
    booking_id = bookings.add()
    with pytest.raises(InvalidRequest) as refused:
        create(sessions, gateways, bookings, booking_id, "tinkoff",
               return_url="https://phishing.example/thanks")
    assert "return_url" in refused.value.details
    studio_site = Settings(env="test", default_return_url=RETURN_URL,
                                      return_url_hosts=("studio.example",))
    created = creating.create_payment(
        sessions, gateways, bookings, studio_site,
        {"booking_id": booking_id, "kind": "prepayment", "gateway": "tinkoff",
         "return_url": "https://studio.example/thanks"}, now())
    assert created["status"] == "pending"


def test_the_booking_token_is_checked(sessions, gateways, bookings):
    booking_id = bookings.add()
    with pytest.raises(AccessDenied):
        create(sessions, gateways, bookings, booking_id, "tinkoff", token="someone-else")
    created = create(sessions, gateways, bookings, booking_id, "tinkoff",
                     token=bookings.tokens[booking_id])
    assert views.get_payment(sessions, bookings, created["id"],
                                  bookings.tokens[booking_id])["id"] == created["id"]
    with pytest.raises(AccessDenied):
        views.get_payment(sessions, bookings, created["id"], "someone-else")


def test_a_pending_payment_of_the_same_kind_is_returned_not_duplicated(sessions, gateways, fakes,
                                                                       bookings):
    booking_id = bookings.add()
    first = create(sessions, gateways, bookings, booking_id, "tinkoff")
    again = create(sessions, gateways, bookings, booking_id, "tinkoff")
    assert again == first
    inits = [r for r in fakes["tinkoff"].requests_seen if r["path"] == "/v2/Init"
             and r["body"]["OrderId"] == first["id"]]
    assert len(inits) == 1


def test_idempotency_key_returns_the_first_answer_and_refuses_another_body(sessions, gateways,
                                                                         fakes, bookings):
    booking_id, key = bookings.add(), str(uuid.uuid4())
    first = create(sessions, gateways, bookings, booking_id, "yookassa", key=key)
    fakes["yookassa"].pay(payment(sessions, first["id"])["provider_payment_id"])
    assert create(sessions, gateways, bookings, booking_id, "yookassa", key=key) == first
    with pytest.raises(IdempotencyKeyReused):
        create(sessions, gateways, bookings, booking_id, "yookassa", key=key, kind="full")
    with pytest.raises(InvalidRequest):
        create(sessions, gateways, bookings, booking_id, "yookassa", key="x" * 300)


@pytest.mark.parametrize("same_key", [False, True], ids=["no key", "one key"])
def test_requests_side_by_side_start_one_payment_at_the_provider(sessions, gateways, fakes,
                                                                 bookings, same_key):
    """The partial unique index (one pending payment per booking and kind) and the locked
    idempotency key decide between concurrent requests: every caller gets the one payment,
    or is told it is being started and may ask again; the provider sees one Init."""
    booking_id, key = bookings.add(), str(uuid.uuid4())

    def request(_):
        try:
            return create(sessions, gateways, bookings, booking_id, "tinkoff",
                          key=key if same_key else None)["id"]
        except PaymentInProgress:
            return None

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(request, range(8)))
    [made] = {answer for answer in answers if answer is not None}
    assert create(sessions, gateways, bookings, booking_id, "tinkoff")["id"] == made
    inits = [r for r in fakes["tinkoff"].requests_seen if r["path"] == "/v2/Init"
             and r["body"]["OrderId"] == made]
    assert len(inits) == 1


def test_idempotency_keys_are_forgotten_after_a_day(sessions, gateways, bookings):
    old_key, fresh_key = str(uuid.uuid4()), str(uuid.uuid4())
    create(sessions, gateways, bookings, bookings.add(), "tinkoff", key=old_key)
    with sessions() as session:
        session.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                             " WHERE key = :k"), {"k": old_key})
    create(sessions, gateways, bookings, bookings.add(), "tinkoff", key=fresh_key)
    assert creating.forget_idempotency_keys(sessions, SETTINGS, now()) >= 1
    with sessions() as session:
        assert session.get(IdempotencyKeyRow, old_key) is None
        assert session.get(IdempotencyKeyRow, fresh_key) is not None


def test_a_provider_that_cannot_start_the_payment_charges_nothing_and_a_retry_starts_afresh(
        sessions, gateways, fakes, endpoint, bookings):
    closed = Gateways("test", adapters(
        fakes, endpoint, tinkoff={"api_url": "http://127.0.0.1:9/v2", "timeout": 1}))
    booking_id, key = bookings.add(), str(uuid.uuid4())
    with pytest.raises(PaymentProviderFailed):
        create(sessions, closed, bookings, booking_id, "tinkoff", key=key)
    [failed] = views.list_payments(sessions, {"booking_id": booking_id})["items"]
    assert failed["status"] == "failed" and failed["provider_payment_id"] is None
    retried = create(sessions, gateways, bookings, booking_id, "tinkoff", key=key)
    assert retried["id"] != failed["id"] and retried["status"] == "pending"
    assert event_types(sessions, failed["id"]) == []  # the payer never saw it


class CrashingProvider:
    """Dies inside the provider call, as a process killed at that moment would."""

    name = "tinkoff"

    def create_payment(self, *args, **kwargs):
        raise SystemExit("killed")


def test_a_crash_around_the_provider_call_is_resumed_with_the_same_id(sessions, gateways, fakes,
                                                                     endpoint, bookings):
    crashing = Gateways("test", {"tinkoff": CrashingProvider()})
    booking_id = bookings.add()
    with pytest.raises(SystemExit):
        create(sessions, crashing, bookings, booking_id, "tinkoff")
    [kept] = views.list_payments(sessions, {"booking_id": booking_id})["items"]
    assert kept["status"] == "pending" and kept["provider_payment_id"] is None
    with pytest.raises(PaymentInProgress):  # it might still be on its way
        create(sessions, gateways, bookings, booking_id, "tinkoff")
    later = now() + timedelta(seconds=creating.IN_FLIGHT_SECONDS + 1)
    resumed = create(sessions, gateways, bookings, booking_id, "tinkoff", at=later)
    assert resumed["id"] == kept["id"] and resumed["confirmation_url"]
    init = [r for r in fakes["tinkoff"].requests_seen if r["path"] == "/v2/Init"][-1]["body"]
    assert init["OrderId"] == kept["id"]


def test_an_unknown_booking_is_404(sessions, gateways, bookings):
    with pytest.raises(BookingNotFound):
        create(sessions, gateways, bookings, str(uuid.uuid4()), "tinkoff")


# --- refunding a cancelled booking ---------------------------------------------------------------

def test_refund_booking_covers_the_amount_newest_payment_first_once(sessions, gateways, fakes,
                                                                   bookings):
    fake = fakes["tinkoff"]
    booking_id = bookings.add()
    prepayment = create(sessions, gateways, bookings, booking_id, "tinkoff")
    fake.pay(payment(sessions, prepayment["id"])["provider_payment_id"])
    bookings.views[booking_id].update(status="confirmed", amount_paid=PREPAYMENT)
    remainder = create(sessions, gateways, bookings, booking_id, "tinkoff", kind="remainder")
    fake.pay(payment(sessions, remainder["id"])["provider_payment_id"])

    amount = (PRICE - PREPAYMENT) + 10000
    result = refunds.refund_booking(sessions, gateways, booking_id, amount, "cancelled",
                                       "booking-cancel-1", now())
    assert (result["refunded"], result["not_covered"]) == (amount, 0)
    assert [(r["payment_id"], r["amount"]) for r in result["refunds"]] == [
        (remainder["id"], PRICE - PREPAYMENT), (prepayment["id"], 10000)]
    assert payment(sessions, remainder["id"])["status"] == "refunded"
    assert payment(sessions, prepayment["id"])["status"] == "partially_refunded"
    cancels = len([r for r in fake.requests_seen if r["path"] == "/v2/Cancel"])
    again = refunds.refund_booking(sessions, gateways, booking_id, amount, "cancelled",
                                      "booking-cancel-1", now())
    assert again == result
    assert len([r for r in fake.requests_seen if r["path"] == "/v2/Cancel"]) == cancels
    too_much = refunds.refund_booking(sessions, gateways, booking_id, PRICE, "operator",
                                         "booking-cancel-2", now())
    assert too_much["refunded"] == PREPAYMENT - 10000
    assert too_much["not_covered"] == PRICE - (PREPAYMENT - 10000)


# --- the mock provider (PAYMENT_ENV=mock) --------------------------------------------------------

@pytest.fixture(scope="module")
def mock_gateways(sessions, config):
    def state_lookup(payment_id):
        with sessions() as session:
            return mock_checkout.mock_state(session, payment_id)

    return Gateways.from_config(config["PAYMENTS"], "mock", state_lookup)


@pytest.fixture(scope="module")
def mock_settings(config):
    return Settings.from_config({**config["PAYMENTS"], "env": "mock"})


def delivering_to(sessions, gateways, replies):
    """A `post` that hands the webhook to handle_webhook, as the gateway would."""

    def post(url, body, headers):
        status = replies.pop(0) if replies else None
        if isinstance(status, Exception):
            raise status
        if status is not None:
            return status
        return webhook(sessions, gateways, "mock", body, headers=headers)["status"]

    return post


def test_mock_checkout_is_delivered_once_as_a_signed_webhook(sessions, mock_gateways,
                                                             mock_settings, bookings):
    booking_id = bookings.add()
    created = creating.create_payment(
        sessions, mock_gateways, bookings, mock_settings,
        {"booking_id": booking_id, "kind": "prepayment", "gateway": "yookassa"}, now())
    assert created["gateway"] == "yookassa"
    assert created["confirmation_url"].endswith(f"/mock-checkout/{created['id']}")
    with pytest.raises(InvalidRequest) as bad_card:
        mock_checkout.mock_checkout(sessions, mock_gateways, mock_settings, created["id"],
                                 "1234", now())
    assert "card_number" in bad_card.value.details
    outcome, first_try = mock_checkout.mock_checkout(
        sessions, mock_gateways, mock_settings, created["id"], "4242 4242 4242 4242", now())
    assert outcome == {"payment_id": created["id"], "outcome": "succeeded", "return_url": None}
    post = delivering_to(sessions, mock_gateways, [])
    # the first try is the checkout's own: not due for the timer meanwhile
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post, now()) == 0
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post, now(),
                                               [first_try]) == 1
    assert payment(sessions, created["id"])["status"] == "succeeded"
    assert mock_checkout.deliver_mock_webhooks(
        sessions, mock_settings, post, now() + timedelta(minutes=5)) == 0  # delivered
    again, no_try = mock_checkout.mock_checkout(sessions, mock_gateways, mock_settings,
                                                created["id"], "4000000000000002", now())
    assert again["outcome"] == "succeeded" and no_try is None  # the first outcome stands
    assert event_types(sessions, created["id"]) == ["payment.succeeded"]


def test_a_checkouts_first_try_that_never_ran_is_made_by_the_timer_after_its_lease(
        sessions, mock_gateways, mock_settings, bookings):
    created = creating.create_payment(
        sessions, mock_gateways, bookings, mock_settings,
        {"booking_id": bookings.add(), "kind": "full", "gateway": "mock"}, now())
    mock_checkout.mock_checkout(sessions, mock_gateways, mock_settings, created["id"],
                                "4242424242424242", now())   # dies before its first try
    post = delivering_to(sessions, mock_gateways, [])
    lease = timedelta(seconds=mock_checkout.MOCK_DELIVERY_LEASE_SECONDS)
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post,
                                               now() + lease / 2) == 0
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post,
                                               now() + lease + timedelta(seconds=1)) == 1
    assert payment(sessions, created["id"])["status"] == "succeeded"


def test_a_lost_mock_webhook_is_retried_and_reconciliation_reads_the_mock(sessions,
                                                                         mock_gateways,
                                                                         mock_settings,
                                                                         bookings):
    created = creating.create_payment(
        sessions, mock_gateways, bookings, mock_settings,
        {"booking_id": bookings.add(), "kind": "full", "gateway": "mock"}, now())
    _, first_try = mock_checkout.mock_checkout(sessions, mock_gateways, mock_settings,
                                               created["id"], "4000000000000002", now())
    post = delivering_to(sessions, mock_gateways, [ConnectionError("gateway down"), 502])
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post, now(),
                                               [first_try]) == 1
    # Not due again until its backoff has passed.
    assert mock_checkout.deliver_mock_webhooks(sessions, mock_settings, post, now()) == 0
    assert mock_checkout.deliver_mock_webhooks(
        sessions, mock_settings, post, now() + timedelta(seconds=5)) == 1
    assert payment(sessions, created["id"])["status"] == "pending"  # both tries failed
    later = now() + mock_settings.reconcile_after + timedelta(seconds=1)
    webhooks.reconcile(sessions, mock_gateways, mock_settings, later, limit=1000)
    assert payment(sessions, created["id"])["status"] == "failed"  # the card was declined
    assert event_types(sessions, created["id"]) == ["payment.failed"]
