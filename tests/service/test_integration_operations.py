"""The integration service's use cases against a real PostgreSQL database, with the other
services played by fakes: what each event drives, what the log keeps, how it pages."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors.base import InvalidRequest, InvalidTransition, ServiceUnavailable
from contracts.errors.booking import BookingCancelled, SlotTaken
from contracts.errors.integration import EventNotFound, EventNotRetryable
from contracts.events import make_envelope
from services.integration import operations
from services.integration.service import IntegrationService, LoggingInboxRunner
from tests.service.one_session import OneSession

SETTINGS = {"inbox_max_attempts": 3, "inbox_backoff_base_seconds": 0.01,
            "inbox_backoff_cap_seconds": 1}
T0 = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def engine(engines):
    return engines["integration"]


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session
        session.rollback()


class FakeBooking:
    def __init__(self, error=None, overpaid=0):
        self.calls, self.error, self.overpaid = [], error, overpaid

    def confirm_booking(self, booking_id, payment_id, amount):
        self.calls.append((booking_id, payment_id, amount))
        if self.error:
            raise self.error
        return {"status": "confirmed", "amount_paid": amount, "price_total": 3 * amount,
                "currency": "RUB", "overpaid": self.overpaid}


class FakePayments:
    def __init__(self, error=None):
        self.calls, self.error = [], error

    def refund(self, payment_id, amount=None, reason=None, request_id=None):
        self.calls.append(("refund", payment_id, amount, reason, request_id))
        if self.error:
            raise self.error
        return {"refund": {"id": "r1", "amount": 1000, "status": "succeeded"}}

    def refund_booking(self, booking_id, amount, reason, request_id):
        self.calls.append(("refund_booking", booking_id, amount, reason, request_id))
        if self.error:
            raise self.error
        return {"refunded": amount - 300, "not_covered": 300}


def payment_succeeded(booking_id=None, amount=1000, occurred_at=None):
    return make_envelope("payments", "payment.succeeded", {
        "payment_id": str(uuid.uuid4()), "booking_id": booking_id or str(uuid.uuid4()),
        "kind": "prepayment", "amount": amount, "currency": "RUB", "gateway": "mock",
        "status": "succeeded", "refunded_amount": 0}, occurred_at=occurred_at)


def booking_event(event_type, booking_id, occurred_at=None, **extra):
    return make_envelope("booking", event_type, {"booking_id": booking_id, **extra},
                         occurred_at=occurred_at)


def entry(session, event):
    return operations.get_event(session, event["event_id"])


def test_a_payment_confirms_its_booking_and_the_log_says_so(session):
    event, booking = payment_succeeded(amount=1500), FakeBooking()
    operations.confirm_paid_booking(session, event, booking, FakePayments())
    paid = event["payload"]
    assert booking.calls == [(paid["booking_id"], paid["payment_id"], 1500)]
    logged = entry(session, event)
    assert (logged["status"], logged["reaction"]) == ("done", "confirm_booking")
    assert logged["outcome"] == "booking confirmed: 1500 of 4500 RUB kopecks paid"
    assert logged["booking_id"] == paid["booking_id"]
    assert logged["payment_id"] == paid["payment_id"]
    assert logged["occurred_at"] == event["occurred_at"]


def test_a_payment_whose_slot_was_taken_is_refunded_in_full_under_its_own_request_id(session):
    event, payments = payment_succeeded(), FakePayments()
    booking = FakeBooking(SlotTaken("This time overlaps another booking of the hall."))
    operations.confirm_paid_booking(session, event, booking, payments)
    [(method, payment_id, amount, reason, request_id)] = payments.calls
    assert (method, payment_id, amount) == ("refund", event["payload"]["payment_id"], None)
    assert request_id == f"{event['event_id']}:slot-taken"
    assert "slot was taken" in reason
    logged = entry(session, event)
    assert (logged["status"], logged["reaction"]) == ("done", "refund_slot_taken")
    assert "the hold had expired and its slot was taken" in logged["outcome"]
    assert "refund r1 of 1000 kopecks (succeeded)" in logged["outcome"]


def test_what_a_payment_brought_beyond_the_price_is_refunded_under_its_own_request_id(session):
    event, payments = payment_succeeded(amount=1500), FakePayments()
    operations.confirm_paid_booking(session, event, FakeBooking(overpaid=1500), payments)
    [(method, payment_id, amount, reason, request_id)] = payments.calls
    assert (method, payment_id, amount) == ("refund", event["payload"]["payment_id"], 1500)
    assert request_id == f"{event['event_id']}:overpaid"
    assert "beyond the booking's price" in reason
    logged = entry(session, event)
    assert (logged["status"], logged["reaction"]) == ("done", "refund_overpaid")
    assert logged["outcome"].startswith("booking confirmed: 1500 of 4500 RUB kopecks paid; ")


def test_a_payment_for_a_cancelled_booking_is_refunded_but_not_one_for_a_completed_one(session):
    cancelled = BookingCancelled("booking is cancelled", {"status": "cancelled"})
    event, payments = payment_succeeded(), FakePayments()
    operations.confirm_paid_booking(session, event, FakeBooking(cancelled), payments)
    assert payments.calls[0][4] == f"{event['event_id']}:booking-cancelled"
    assert entry(session, event)["reaction"] == "refund_booking_cancelled"

    completed = InvalidTransition("booking is completed", {"status": "completed"})
    payments = FakePayments()
    with pytest.raises(operations.ReactionFailed) as failed:
        operations.confirm_paid_booking(session, payment_succeeded(), FakeBooking(completed),
                                        payments)
    assert failed.value.reaction == "confirm_booking" and payments.calls == []


def test_a_failed_call_is_a_reaction_failure_that_says_what_was_tried(session):
    with pytest.raises(operations.ReactionFailed) as failed:
        operations.confirm_paid_booking(
            session, payment_succeeded(),
            FakeBooking(ServiceUnavailable("booking did not answer in time")), FakePayments())
    assert failed.value.outcome == "ServiceUnavailable: booking did not answer in time"
    with pytest.raises(operations.ReactionFailed) as failed:
        operations.confirm_paid_booking(
            session, payment_succeeded(), FakeBooking(SlotTaken("taken")),
            FakePayments(ServiceUnavailable("payments did not answer in time")))
    assert failed.value.reaction == "refund_slot_taken"
    assert "slot was taken" in failed.value.outcome
    assert "the refund failed: ServiceUnavailable" in failed.value.outcome


def test_a_cancellation_refunds_what_is_due_and_says_what_is_left_to_an_operator(session):
    booking_id = str(uuid.uuid4())
    event = booking_event("booking.cancelled", booking_id, refund_due=5000)
    payments = FakePayments()
    operations.refund_cancelled_booking(session, event, payments)
    [(method, called_booking, amount, reason, request_id)] = payments.calls
    assert (method, called_booking, amount, request_id) == (
        "refund_booking", booking_id, 5000, event["event_id"])
    logged = entry(session, event)
    assert logged["status"] == "done" and logged["reaction"] == "refund_booking"
    assert logged["outcome"].startswith("4700 of 5000 kopecks refunded; 300 not covered")

    nothing = booking_event("booking.cancelled", booking_id, refund_due=0)
    payments = FakePayments()
    operations.refund_cancelled_booking(session, nothing, payments)
    assert payments.calls == []
    assert entry(session, nothing)["status"] == "logged"


class _Service:
    """Enough of IntegrationService for the inbox runner: its handler, db and proxies."""

    payment_succeeded = IntegrationService.payment_succeeded
    payments = FakePayments()

    def __init__(self, session, booking):
        self.db, self.booking = OneSession(session), booking


def test_a_failed_reaction_is_logged_with_the_inbox_record_and_done_when_retried(session):
    event = payment_succeeded()
    runner = LoggingInboxRunner(SETTINGS)
    down = ServiceUnavailable("booking did not answer in time")
    service = _Service(session, FakeBooking(down))
    assert runner.handle(service, "payment_succeeded", event) == "failed"
    logged = entry(session, event)
    assert (logged["status"], logged["reaction"], logged["attempts"]) == (
        "failed", "confirm_booking", 1)
    assert "did not answer" in logged["outcome"]
    inbox = session.execute(text("SELECT status, attempts FROM inbox WHERE event_id = :e"),
                            {"e": event["event_id"]}).one()
    assert tuple(inbox) == ("failed", 1)

    service.booking = FakeBooking()
    assert runner.handle(service, "payment_succeeded", event, force=True) == "done"
    logged = entry(session, event)
    assert (logged["status"], logged["attempts"]) == ("done", 2)
    assert logged["outcome"].startswith("booking confirmed")
    assert runner.handle(service, "payment_succeeded", event) == "skipped"
    assert len(service.booking.calls) == 1


def test_the_log_pages_newest_first_without_losing_ties(session):
    booking_id = str(uuid.uuid4())
    moments = [T0] * 4 + [T0 + timedelta(seconds=s) for s in (1, 2, 3)]
    events = [booking_event("booking.created", booking_id, occurred_at=m) for m in moments]
    for event in events:
        operations.log_event(session, event)
    seen, cursor = [], None
    while True:
        page = operations.list_events(session, {"booking_id": booking_id, "limit": 3,
                                                **({"cursor": cursor} if cursor else {})})
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    keys = [(i["occurred_at"], i["event_id"]) for i in seen]
    assert len(keys) == 7 and len(set(keys)) == 7
    assert keys == sorted(keys, reverse=True)

    window = operations.list_events(session, {
        "booking_id": booking_id, "since": (T0 + timedelta(seconds=1)).isoformat(),
        "until": (T0 + timedelta(seconds=3)).isoformat()})["items"]
    assert [i["occurred_at"] for i in window] == [
        (T0 + timedelta(seconds=s)).isoformat() for s in (2, 1)]
    assert operations.list_events(session, {"booking_id": booking_id,
                                            "status": "done"})["items"] == []


def test_a_booking_chain_is_in_the_order_things_happened(session):
    booking_id = str(uuid.uuid4())
    later = booking_event("booking.confirmed", booking_id, occurred_at=T0 + timedelta(1))
    earlier = booking_event("booking.created", booking_id, occurred_at=T0)
    for event in (later, earlier):
        operations.log_event(session, event)
    chain = operations.booking_chain(session, booking_id)
    assert [i["type"] for i in chain["items"]] == ["booking.created", "booking.confirmed"]


def test_only_failed_or_dead_events_can_be_retried(session):
    event = booking_event("booking.created", str(uuid.uuid4()))
    operations.log_event(session, event)
    with pytest.raises(EventNotRetryable):
        operations.check_retryable(session, event["event_id"])
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(EventNotFound):
            operations.check_retryable(session, unknown)


def test_a_forged_cursor_or_filter_is_invalid(session):
    for filters in ({"cursor": "bm9wZQ=="}, {"status": "lost"}, {"limit": 500}):
        with pytest.raises(InvalidRequest):
            operations.list_events(session, filters)


def test_a_malformed_event_fails_into_the_log_instead_of_looping(session):
    event = payment_succeeded()
    del event["payload"]["booking_id"]
    event["occurred_at"] = "yesterday"
    runner = LoggingInboxRunner(SETTINGS)
    assert runner.handle(_Service(session, FakeBooking()), "payment_succeeded", event) == \
        "failed"
    logged = entry(session, event)
    assert logged["status"] == "failed" and "KeyError" in logged["outcome"]
    assert logged["occurred_at"] is not None and logged["booking_id"] is None
