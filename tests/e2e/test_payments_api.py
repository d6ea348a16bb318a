"""Payments over HTTP with PAYMENT_ENV=mock, every service running as its own process: the
mock checkout page, its signed webhook, idempotency, refunds, and what a forger gets."""
import time
import uuid

import pytest
from sqlalchemy import text

from services.payments.providers.mock import DECLINED_CARD, PAYING_CARD, build_notification, sign
from tests.amqp import EventWatcher, wait_until

RETURN_URL = "http://127.0.0.1:8000/booking/thanks"


@pytest.fixture(scope="module")
def payments_db(engines):
    return engines["payments"]


@pytest.fixture
def watcher(system, config):
    watcher = EventWatcher(config["AMQP_URI"], "payments.events", "payment.*")
    yield watcher
    watcher.close()


@pytest.fixture
def secret(config):
    return config["PAYMENTS"]["providers"]["mock"]["webhook_secret"]


def pay_request(api, booking, kind="prepayment", gateway="yookassa", headers=None, **extra):
    return api.post("/api/payments", token=booking["access_token"], headers=headers or {},
                    json={"booking_id": booking["id"], "kind": kind, "gateway": gateway,
                          **extra})


def start_payment(api, booking, **kwargs):
    answer = pay_request(api, booking, **kwargs)
    assert answer.status_code == 201, answer.text
    return answer.json()


def status_of(api, payment_id):
    return api.get(f"/api/payments/{payment_id}", admin=True).json()["status"]


def events_of(watcher, payment_id, event_type, seconds=10):
    def found(seen):
        return [e for e in seen if e["routing_key"] == event_type
                and e["body"]["payload"]["payment_id"] == payment_id]
    return found(watcher.collect(seconds, until=found))


def outbox_count(payments_db, payment_id, event_type):
    with payments_db.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM outbox WHERE type = :t "
            "AND envelope->'payload'->>'payment_id' = :p"), {"t": event_type, "p": payment_id}
        ).scalar()


def test_prepayment_through_the_mock_checkout_succeeds_and_is_announced(api, booking, watcher):
    payment = start_payment(api, booking, return_url=RETURN_URL)
    assert payment["amount"] == booking["prepayment_amount"] and payment["status"] == "pending"
    assert payment["confirmation_url"] == f"{api.base_url}/mock-checkout/{payment['id']}"

    page = api.session.get(payment["confirmation_url"])
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "card_number" in page.text and "1\u00a0440,00" in page.text
    assert '<html lang="ru">' in page.text and "Номер карты" in page.text   # the studio's
    english = api.session.get(payment["confirmation_url"], params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Card number" in english.text

    paid = api.session.post(payment["confirmation_url"], data={"card_number": PAYING_CARD},
                            allow_redirects=False)
    assert paid.status_code == 303 and paid.headers["Location"] == RETURN_URL
    assert wait_until(lambda: status_of(api, payment["id"]) == "succeeded", seconds=15)
    [event] = events_of(watcher, payment["id"], "payment.succeeded")
    assert event["body"]["payload"] == {
        "payment_id": payment["id"], "booking_id": booking["id"], "kind": "prepayment",
        "amount": booking["prepayment_amount"], "currency": "RUB", "gateway": "yookassa",
        "status": "succeeded", "refunded_amount": 0}
    assert "Оплачено" in api.session.get(payment["confirmation_url"]).text
    assert "Paid" in api.session.get(payment["confirmation_url"] + "?lang=en").text


def test_a_declined_card_fails_the_payment_and_is_announced(api, booking, watcher):
    payment = start_payment(api, booking, gateway="tinkoff")
    declined = api.session.post(payment["confirmation_url"],
                                data={"card_number": DECLINED_CARD}, allow_redirects=False)
    assert declined.status_code == 303
    assert declined.headers["Location"].endswith(f"/mock-checkout/{payment['id']}?lang=ru")
    assert wait_until(lambda: status_of(api, payment["id"]) == "failed", seconds=15)
    [event] = events_of(watcher, payment["id"], "payment.failed")
    assert event["body"]["payload"]["status"] == "failed"
    assert "Карта отклонена" in api.session.get(payment["confirmation_url"]).text


def test_a_card_that_is_no_test_card_is_422_and_changes_nothing(api, booking, payments_db):
    payment = start_payment(api, booking)
    answer = api.session.post(payment["confirmation_url"],
                              data={"card_number": "5555 5555 5555 4444"})
    assert answer.status_code == 422 and answer.headers["Content-Type"].startswith("text/html")
    assert "card_number" in answer.text and "Traceback" not in answer.text
    assert api.session.get(f"{api.base_url}/mock-checkout/{uuid.uuid4()}").status_code == 404
    assert status_of(api, payment["id"]) == "pending"


def test_the_amount_comes_from_the_booking_never_from_the_client(api, booking):
    sneaky = pay_request(api, booking, kind="full", amount=100)
    assert sneaky.status_code == 422 and "amount" in sneaky.json()["details"]
    full = start_payment(api, booking, kind="full")
    assert full["amount"] == booking["price_total"]
    remainder = pay_request(api, booking, kind="remainder")
    assert remainder.status_code == 409 and remainder.json()["error"] == "booking_not_payable"


def test_the_same_idempotency_key_gives_the_same_payment_and_another_body_409(api, booking):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = start_payment(api, booking, headers=dict(key))
    assert start_payment(api, booking, headers=dict(key)) == first
    other = pay_request(api, booking, kind="full", headers=dict(key))
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    # Without a key, the pending payment of the same kind comes back rather than a second one.
    assert start_payment(api, booking)["id"] == first["id"]


def test_a_payment_is_seen_with_its_bookings_token_or_the_operators(api, booking, operator):
    payment = start_payment(api, booking)
    path = f"/api/payments/{payment['id']}"
    assert api.get(path).status_code == 401
    assert api.get(path, token="not-it").status_code == 403
    mine = api.get(path, token=booking["access_token"])
    assert mine.status_code == 200 and mine.json()["id"] == payment["id"]
    assert api.get(path, admin=True).status_code == 200
    assert api.get(f"/api/payments/{uuid.uuid4()}", admin=True).status_code == 404
    listed = api.get("/api/payments", admin=True, params={"booking_id": booking["id"]})
    assert [p["id"] for p in listed.json()["items"]] == [payment["id"]]
    assert operator.payments.list_payments(booking_id=booking["id"])["items"][0]["id"] \
        == payment["id"]


def test_a_cancelled_booking_takes_no_payment(api, booking):
    assert api.delete(f"/api/bookings/{booking['id']}",
                      token=booking["access_token"]).status_code == 200
    answer = pay_request(api, booking)
    assert answer.status_code == 409 and answer.json()["error"] == "booking_not_payable"


def post_webhook(api, body, signature):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Signature"] = signature
    return api.session.post(f"{api.base_url}/api/payments/webhook/mock", data=body,
                            headers=headers)


def test_forged_mock_webhooks_are_refused_and_change_nothing(api, booking, secret, payments_db):
    payment = start_payment(api, booking)
    body, headers = build_notification(payment["id"], "succeeded", payment["amount"], "RUB",
                                       secret)
    tampered = body.replace(str(payment["amount"]).encode(), b"1")
    now = time.time()
    for forged_body, signature in (
            (body, sign("not-our-secret", body, now)),       # wrong key
            (body, sign(secret, body, now - 400)),            # stale t
            (body, None),                                     # no signature
            (tampered, headers["Signature"])):                # body changed after signing
        answer = post_webhook(api, forged_body, signature)
        assert answer.status_code in (401, 403), answer.text
        assert answer.json()["error"] == "webhook_forged"
    assert status_of(api, payment["id"]) == "pending"
    with payments_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM provider_notifications "
                                 "WHERE payment_id = :p"), {"p": payment["id"]}).scalar() == 0


def test_a_genuine_webhook_delivered_three_times_has_one_effect(api, booking, secret, watcher,
                                                                payments_db):
    payment = start_payment(api, booking)
    body, headers = build_notification(payment["id"], "succeeded", payment["amount"], "RUB",
                                       secret)
    for _ in range(3):
        answer = post_webhook(api, body, headers["Signature"])
        assert answer.status_code == 200 and answer.text == "OK"
    assert status_of(api, payment["id"]) == "succeeded"
    assert len(events_of(watcher, payment["id"], "payment.succeeded")) == 1
    assert outbox_count(payments_db, payment["id"], "payment.succeeded") == 1


def test_every_providers_webhook_is_routed_to_it_and_a_forgery_refused(api):
    base = f"{api.base_url}/api/payments/webhook"
    sber = api.session.get(f"{base}/sberpay", params={
        "mdOrder": str(uuid.uuid4()), "orderNumber": str(uuid.uuid4()),
        "operation": "deposited", "status": "1", "checksum": "A" * 64})
    tinkoff = api.session.post(f"{base}/tinkoff", json={
        "TerminalKey": "T", "PaymentId": 1, "Status": "CONFIRMED", "Token": "0" * 64})
    yookassa = api.session.post(f"{base}/yookassa", json={   # not from YooKassa's networks
        "type": "notification", "event": "payment.succeeded", "object": {"id": "x"}})
    for answer in (sber, tinkoff, yookassa):
        assert answer.status_code == 403 and answer.json()["error"] == "webhook_forged"


def test_unknown_gateway_webhook_is_404(api):
    answer = api.session.post(f"{api.base_url}/api/payments/webhook/paypal", data=b"{}")
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_gateway"


def test_operator_refunds_partially_then_fully_and_never_more(api, booking, watcher):
    payment = start_payment(api, booking, kind="full")
    api.session.post(payment["confirmation_url"], data={"card_number": PAYING_CARD},
                     allow_redirects=False)
    assert wait_until(lambda: status_of(api, payment["id"]) == "succeeded", seconds=15)
    path = f"/api/payments/{payment['id']}/refund"
    assert api.post(path, json={"amount": 1000}).status_code == 401
    assert api.post(path, token=booking["access_token"], json={"amount": 1000}).status_code == 403

    key = {"Idempotency-Key": str(uuid.uuid4())}
    partial = api.post(path, admin=True, json={"amount": 100000, "reason": "late start"},
                       headers=dict(key))
    assert partial.status_code == 200, partial.text
    assert partial.json()["payment"]["status"] == "partially_refunded"
    repeat = api.post(path, admin=True, json={"amount": 100000, "reason": "late start"},
                      headers=dict(key))
    assert repeat.json()["refund"] == partial.json()["refund"]
    too_much = api.post(path, admin=True, json={"amount": payment["amount"]})
    assert too_much.status_code == 409 and too_much.json()["error"] == "refund_exceeds_payment"
    rest = api.post(path, admin=True)
    assert rest.status_code == 200
    assert rest.json()["refund"]["amount"] == payment["amount"] - 100000
    assert rest.json()["payment"]["status"] == "refunded"
    assert api.post(path, admin=True).status_code == 409

    refunded = watcher.collect(10, until=lambda seen: len(
        [e for e in seen if e["routing_key"] == "payment.refunded"]) >= 2)
    assert [e["body"]["payload"]["refunded_amount"] for e in refunded
            if e["routing_key"] == "payment.refunded"] == [100000, payment["amount"]]


def test_two_payments_paid_side_by_side_count_the_price_once_and_the_excess_goes_back(
        api, booking):
    """A customer opens a prepayment and a full payment and pays both: the booking is paid
    in full, and what the second one brought beyond the price is refunded from it."""
    prepayment = start_payment(api, booking, kind="prepayment", gateway="mock")
    full = start_payment(api, booking, kind="full", gateway="mock")
    assert full["amount"] == booking["price_total"]
    for payment in (prepayment, full):
        paid = api.session.post(payment["confirmation_url"],
                                data={"card_number": PAYING_CARD}, allow_redirects=False)
        assert paid.status_code == 303
        assert wait_until(lambda: status_of(api, payment["id"]) != "pending", seconds=15)

    def settled():
        return api.get(f"/api/payments/{full['id']}", admin=True).json()

    assert wait_until(lambda: settled()["status"] == "partially_refunded", seconds=20)
    assert settled()["refunded_amount"] == booking["prepayment_amount"]
    assert status_of(api, prepayment["id"]) == "succeeded"
    seen = api.get(f"/api/bookings/{booking['id']}", token=booking["access_token"]).json()
    assert (seen["status"], seen["amount_paid"], seen["remaining_due"]) == (
        "confirmed", booking["price_total"], 0)
    [logged] = [item for item in api.get("/api/integrations/events", admin=True, params={
        "payment_id": full["id"], "type": "payment.succeeded"}).json()["items"]]
    assert (logged["status"], logged["reaction"]) == ("done", "refund_overpaid")
