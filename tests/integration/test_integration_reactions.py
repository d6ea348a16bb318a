"""The reactions that span services, with every service running as its own process and the
payments paid the way a customer pays (the mock provider's checkout and signed webhook)."""
import pytest
from sqlalchemy import create_engine, text

from tests.amqp import wait_until
from tests.integration.integration_flow import DECLINED_CARD, book, hour_slots, make_hall


@pytest.fixture(scope="module")
def booking_db(config):
    engine = create_engine(config["DB_URIS"]["booking:Base"])
    yield engine
    engine.dispose()


def logged_event(operator, booking_id, event_type, status=None):
    """The booking's logged event of this type (once it has `status`, when given)."""
    def find():
        for item in operator.integration.booking_chain(booking_id)["items"]:
            if item["type"] == event_type and (status is None or item["status"] == status):
                return item
    return wait_until(find, 30)


def expire_hold(operator, booking_db, booking):
    """Make the hold run out now; the booking service's expiry timer does the rest."""
    with booking_db.begin() as conn:
        conn.execute(text("UPDATE bookings SET hold_expires_at = now() - interval '1 second' "
                          "WHERE id = :id"), {"id": booking["id"]})


def status_of(operator, booking_id):
    return operator.booking.get_booking(booking_id)["status"]


def test_a_paid_booking_is_confirmed_and_the_log_says_what_the_payment_drove(
        api, operator, payer):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=11)))
    payment = payer.start(booking, kind="prepayment")
    succeeded = logged_event(operator, booking["id"], "payment.succeeded", "done")
    assert succeeded, f"payment.succeeded was not done: " \
                      f"{operator.integration.booking_chain(booking['id'])}"
    print(f"paid through: {payer.name}")
    assert succeeded["payment_id"] == payment["id"] and succeeded["source"] == "payments"
    assert succeeded["reaction"] == "confirm_booking" and succeeded["attempts"] == 1
    assert succeeded["outcome"].startswith("booking confirmed")
    now = operator.booking.get_booking(booking["id"])
    assert now["status"] == "confirmed" and now["amount_paid"] == payment["amount"]
    assert logged_event(operator, booking["id"], "booking.confirmed", "logged")
    by_payment = operator.integration.list_events(payment_id=payment["id"])["items"]
    assert [i["event_id"] for i in by_payment] == [succeeded["event_id"]]


def test_a_declined_payment_is_only_logged_and_the_hold_stays(api, operator, payer,
                                                              holds):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=12)))
    holds.append(booking["id"])
    payer.start(booking, kind="prepayment", card=DECLINED_CARD)
    failed = logged_event(operator, booking["id"], "payment.failed")
    assert failed and failed["status"] == "logged" and failed["reaction"] is None
    assert "hold stays" in failed["outcome"]
    assert status_of(operator, booking["id"]) == "pending_payment"


def test_a_payment_for_an_expired_hold_whose_slot_was_taken_is_refunded_in_full(
        api, operator, payer, booking_db, holds):
    hall = make_hall(operator)
    slot = next(hour_slots(1, weeks_ahead=13))
    late = book(api, hall, *slot)
    payment = payer.create(late, kind="full")
    expire_hold(operator, booking_db, late)
    assert wait_until(lambda: status_of(operator, late["id"]) == "expired", 15)
    holds.append(book(api, hall, *slot, n=1)["id"])   # someone else takes the slot
    payer.pay(payment)
    succeeded = logged_event(operator, late["id"], "payment.succeeded", "done")
    assert succeeded, operator.integration.booking_chain(late["id"])
    assert succeeded["reaction"] == "refund_slot_taken"
    assert "slot was taken" in succeeded["outcome"]
    assert status_of(operator, late["id"]) == "expired"
    refunded = logged_event(operator, late["id"], "payment.refunded")
    assert refunded and refunded["payload"]["refunded_amount"] == payment["amount"]
    refunds = operator.payments.get_payment(payment["id"])["refunds"]
    assert [(r["amount"], r["request_id"]) for r in refunds] == [
        (payment["amount"], f"{succeeded['event_id']}:slot-taken")]


def test_a_payment_for_an_expired_hold_whose_slot_is_still_free_confirms_it(
        api, operator, payer, booking_db):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=14)))
    payment = payer.create(booking, kind="prepayment")
    expire_hold(operator, booking_db, booking)
    assert wait_until(lambda: status_of(operator, booking["id"]) == "expired", 15)
    payer.pay(payment)
    succeeded = logged_event(operator, booking["id"], "payment.succeeded", "done")
    assert succeeded and succeeded["reaction"] == "confirm_booking"
    assert status_of(operator, booking["id"]) == "confirmed"


def test_a_payment_that_arrives_after_the_booking_was_cancelled_is_refunded_in_full(
        api, operator, payer):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=15)))
    payment = payer.create(booking, kind="prepayment")
    assert api.delete(f"/api/bookings/{booking['id']}",
                      token=booking["access_token"]).status_code == 200
    payer.pay(payment)
    succeeded = logged_event(operator, booking["id"], "payment.succeeded", "done")
    assert succeeded, operator.integration.booking_chain(booking["id"])
    assert succeeded["reaction"] == "refund_booking_cancelled"
    refunds = operator.payments.get_payment(payment["id"])["refunds"]
    assert [r["amount"] for r in refunds] == [payment["amount"]]


def test_a_cancellation_with_a_refund_due_refunds_it_through_payments(
        api, operator, payer):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=16)))
    payment = payer.start(booking, kind="prepayment")
    assert logged_event(operator, booking["id"], "booking.confirmed")
    cancelled = api.delete(f"/api/bookings/{booking['id']}", admin=True).json()
    assert cancelled["refund_due"] == payment["amount"]
    event = logged_event(operator, booking["id"], "booking.cancelled", "done")
    assert event, operator.integration.booking_chain(booking["id"])
    assert event["reaction"] == "refund_booking"
    assert event["outcome"] == f"{payment['amount']} of {payment['amount']} kopecks refunded"
    assert logged_event(operator, booking["id"], "payment.refunded")
    refunds = operator.payments.get_payment(payment["id"])["refunds"]
    assert [r["amount"] for r in refunds] == [payment["amount"]]
    types = [i["type"] for i in operator.integration.booking_chain(booking["id"])["items"]]
    assert types.index("booking.created") < types.index("payment.succeeded") < \
        types.index("booking.confirmed") < types.index("booking.cancelled") < \
        types.index("payment.refunded")


def test_desk_money_of_a_cancelled_booking_is_left_to_an_operator(api, operator):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=17)))
    api.post(f"/api/bookings/{booking['id']}/confirm", admin=True, json={})
    api.delete(f"/api/bookings/{booking['id']}", admin=True)
    event = logged_event(operator, booking["id"], "booking.cancelled", "done")
    assert event, operator.integration.booking_chain(booking["id"])
    assert event["outcome"].startswith(f"0 of {booking['price_total']} kopecks refunded")
    assert "operator's matter" in event["outcome"]


def test_a_cancellation_with_nothing_to_refund_is_only_logged(api, operator):
    booking = book(api, make_hall(operator), *next(hour_slots(1, weeks_ahead=18)))
    api.delete(f"/api/bookings/{booking['id']}", token=booking["access_token"])
    event = logged_event(operator, booking["id"], "booking.cancelled")
    assert event["status"] == "logged" and event["outcome"] == "no refund due"
