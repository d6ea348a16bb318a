"""The payments domain without I/O: what a booking owes, what a payment can give back, and how
the provider's word moves a payment; with properties over generated payments and words."""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import payments as contract
from contracts.errors.payments import BookingNotPayable, PaymentNotRefundable, RefundExceedsPayment
from services.payments import domain
from services.payments.domain import AMOUNT_MISMATCH, CANCELED, FAILED, PARTIALLY_REFUNDED, PENDING, REFUNDED, SUCCEEDED
from tests.properties import property_settings

EARLIER = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
NOW = EARLIER + timedelta(minutes=5)
PROPERTY = property_settings(200)


@dataclass(frozen=True)
class Payment:
    id: str = "p1"
    amount: int = 150000
    currency: str = "RUB"
    status: str = PENDING
    refunded_amount: int = 0
    updated_at: datetime = EARLIER


@dataclass(frozen=True)
class Word:
    """What a provider says: a notification (no refunded_amount) or a fetched payment."""
    status: str
    amount: int = 150000
    currency: str = "RUB"
    refunded_amount: int | None = None


def booking(status="pending_payment", price=400000, prepayment=120000, paid=0):
    return {"id": "b1", "status": status, "price_total": price,
            "prepayment_amount": prepayment, "amount_paid": paid}


def applied(payment, outcome):
    """The payment after a settlement, as the webhook use case writes it."""
    refunded, status = payment.refunded_amount, outcome.status
    if outcome.refunded_at_provider:
        refunded, status = domain.count_refund(payment.amount, refunded,
                                               outcome.refunded_at_provider)
    return replace(payment, status=status, refunded_amount=refunded,
                   updated_at=outcome.updated_at)


def test_the_domain_speaks_the_statuses_and_kinds_of_the_contract():
    assert set(domain.PAYMENT_STATUSES + (AMOUNT_MISMATCH,)) == set(contract.PAYMENT_STATUSES)
    assert {domain.REFUND_PENDING, domain.REFUND_SUCCEEDED, domain.REFUND_FAILED} == set(
        contract.REFUND_STATUSES)
    assert set(domain.KIND_WORDS) == set(contract.PAYMENT_KINDS)


# --- what is due --------------------------------------------------------------------------------

def test_a_prepayment_is_the_bookings_prepayment():
    assert domain.amount_due(booking(), "prepayment", 0) == 120000


def test_a_full_payment_is_what_is_left_after_what_was_paid_here_or_at_the_booking():
    assert domain.amount_due(booking(paid=120000, status="confirmed"), "full", 0) == 280000
    assert domain.amount_due(booking(), "full", 150000) == 250000


def test_a_remainder_needs_a_prepayment_first():
    with pytest.raises(BookingNotPayable, match="Nothing was prepaid"):
        domain.amount_due(booking(), "remainder", 0)
    assert domain.amount_due(booking(paid=120000, status="confirmed"), "remainder", 0) == 280000


@pytest.mark.parametrize("status", ["cancelled", "expired", "completed"])
def test_a_booking_that_is_over_takes_no_payment(status):
    with pytest.raises(BookingNotPayable) as refused:
        domain.amount_due(booking(status=status), "full", 0)
    assert refused.value.details == {"booking_id": "b1", "status": status, "kind": "full"}


def test_a_booking_paid_in_full_or_prepaid_takes_no_second_prepayment():
    with pytest.raises(BookingNotPayable, match="paid in full"):
        domain.amount_due(booking(paid=400000, status="confirmed"), "full", 0)
    with pytest.raises(BookingNotPayable, match="prepayment was made"):
        domain.amount_due(booking(paid=120000, status="confirmed"), "prepayment", 0)
    with pytest.raises(BookingNotPayable, match="no prepayment"):
        domain.amount_due(booking(prepayment=0), "prepayment", 0)


@PROPERTY
@given(price=st.integers(1, 10**8), prepayment=st.integers(0, 10**8),
       paid=st.integers(0, 10**8), taken=st.integers(0, 10**8),
       kind=st.sampled_from(["prepayment", "full", "remainder"]))
def test_no_payment_asks_for_more_than_is_left_of_the_price(price, prepayment, paid, taken,
                                                            kind):
    try:
        due = domain.amount_due(booking("confirmed", price, prepayment, paid), kind, taken)
    except BookingNotPayable:
        return
    assert 0 < due <= price - max(paid, taken)


def test_the_description_names_the_kind_the_hall_and_the_start_within_128_characters():
    view = {"hall_name": "Синий зал", "start": "2026-12-10T10:00:00+03:00"}
    assert domain.description(view, "prepayment") == "Prepayment: Синий зал, 2026-12-10 10:00"
    assert len(domain.description({**view, "hall_name": "x" * 300}, "full")) == 128


# --- refunds --------------------------------------------------------------------------------------

def test_a_refund_takes_all_that_is_refundable_unless_an_amount_is_asked():
    paid = Payment(status=SUCCEEDED, refunded_amount=50000)
    assert domain.refund_amount(paid, None, being_refunded=20000) == 80000
    assert domain.refund_amount(paid, 1000, being_refunded=0) == 1000


def test_a_refund_beyond_what_is_refundable_is_refused_with_what_is():
    paid = Payment(status=PARTIALLY_REFUNDED, refunded_amount=100000)
    with pytest.raises(RefundExceedsPayment) as refused:
        domain.refund_amount(paid, 50001, being_refunded=0)
    assert refused.value.details == {"amount": 50001, "refundable": 50000}


@pytest.mark.parametrize("status", [PENDING, FAILED, CANCELED, REFUNDED, AMOUNT_MISMATCH])
def test_only_a_payment_that_holds_money_can_be_refunded(status):
    with pytest.raises(PaymentNotRefundable):
        domain.refund_amount(Payment(status=status), 100, being_refunded=0)


def test_a_counted_refund_makes_the_payment_partly_or_wholly_refunded():
    assert domain.count_refund(150000, 0, 50000) == (50000, PARTIALLY_REFUNDED)
    assert domain.count_refund(150000, 50000, 100000) == (150000, REFUNDED)


def test_a_refund_went_through_when_the_providers_total_covers_it():
    assert domain.refund_went_through(80000, 30000, 50000)
    assert not domain.refund_went_through(79999, 30000, 50000)
    assert not domain.refund_went_through(None, 0, 1)


@PROPERTY
@given(amount=st.integers(1, 10**7),
       asks=st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 10**7)),
                               st.sampled_from(["succeeded", "failed", "pending"])),
                     max_size=12))
def test_refunds_never_exceed_what_was_paid(amount, asks):
    """Whatever refunds are asked, in any amounts, with any outcomes at the provider: what is
    refunded plus what is reserved stays within the payment."""
    payment = Payment(amount=amount, status=SUCCEEDED)
    pending = 0
    for asked, outcome in asks:
        try:
            refund = domain.refund_amount(payment, asked, pending)
        except (RefundExceedsPayment, PaymentNotRefundable):
            continue
        if outcome == "succeeded":
            refunded, status = domain.count_refund(payment.amount, payment.refunded_amount,
                                                   refund)
            payment = replace(payment, refunded_amount=refunded, status=status)
        elif outcome == "pending":
            pending += refund
        assert payment.refunded_amount + pending <= payment.amount
    assert payment.status in (SUCCEEDED, PARTIALLY_REFUNDED, REFUNDED)


# --- settling: the provider's word ------------------------------------------------------------------

def test_a_pending_payment_the_provider_reports_paid_succeeds_and_is_announced():
    outcome = domain.settle(Payment(), Word(SUCCEEDED), NOW)
    assert (outcome.status, outcome.event, outcome.updated_at) == (
        SUCCEEDED, "payment.succeeded", NOW)


@pytest.mark.parametrize("given_up", [FAILED, CANCELED])
def test_money_the_provider_took_wins_over_a_payment_we_gave_up_on(given_up):
    outcome = domain.settle(Payment(status=given_up), Word(SUCCEEDED), NOW)
    assert (outcome.status, outcome.event) == (SUCCEEDED, "payment.succeeded")


@pytest.mark.parametrize("word", [Word(SUCCEEDED, amount=149999), Word(SUCCEEDED, currency="USD")])
def test_another_amount_or_currency_is_an_amount_mismatch_never_a_success(word):
    outcome = domain.settle(Payment(), word, NOW)
    assert (outcome.status, outcome.event) == (AMOUNT_MISMATCH, "payment.amount_mismatch")
    assert outcome.event_details == {"reported_amount": word.amount,
                                     "reported_currency": word.currency}
    assert outcome.warning


@pytest.mark.parametrize("status", [FAILED, CANCELED])
def test_a_declined_pending_payment_fails_with_the_providers_status(status):
    outcome = domain.settle(Payment(), Word(status), NOW)
    assert (outcome.status, outcome.event) == (status, "payment.failed")


def test_a_decline_after_success_changes_nothing():
    outcome = domain.settle(Payment(status=SUCCEEDED), Word(FAILED), NOW)
    assert (outcome.status, outcome.event, outcome.updated_at) == (SUCCEEDED, None, EARLIER)
    assert not outcome.changes_anything


def test_refunds_of_a_payment_we_never_saw_succeed_are_left_for_an_operator():
    outcome = domain.settle(Payment(), Word(PARTIALLY_REFUNDED, refunded_amount=100), NOW)
    assert (outcome.status, outcome.event, outcome.refunded_at_provider) == (PENDING, None, 0)
    assert outcome.warning


def test_a_refund_made_in_the_providers_dashboard_is_taken_beyond_ours_and_those_under_way():
    paid = Payment(status=PARTIALLY_REFUNDED, refunded_amount=30000)
    word = Word(PARTIALLY_REFUNDED, refunded_amount=100000)
    assert domain.settle(paid, word, NOW, being_refunded=20000).refunded_at_provider == 50000
    assert domain.settle(paid, word, NOW, being_refunded=70000).refunded_at_provider == 0
    # a notification does not count refunds: nothing to take from it
    assert domain.settle(paid, Word(SUCCEEDED), NOW).refunded_at_provider == 0


words = st.builds(
    Word, status=st.sampled_from(domain.PAYMENT_STATUSES),
    amount=st.sampled_from([150000, 149999]), currency=st.sampled_from(["RUB", "USD"]),
    refunded_amount=st.one_of(st.none(), st.integers(0, 200000)))
payments = st.builds(
    Payment, status=st.sampled_from(domain.PAYMENT_STATUSES + (AMOUNT_MISMATCH,)),
    refunded_amount=st.integers(0, 150000))


@PROPERTY
@given(payment=payments, word=words)
def test_settling_the_same_word_twice_changes_nothing_the_second_time(payment, word):
    once = applied(payment, domain.settle(payment, word, NOW))
    again = domain.settle(once, word, NOW + timedelta(minutes=1))
    assert not again.changes_anything
    assert applied(once, again) == once


@PROPERTY
@given(payment=payments, word=words)
def test_settling_never_counts_more_refunded_than_was_paid(payment, word):
    after = applied(payment, domain.settle(payment, word, NOW))
    assert after.refunded_amount <= max(payment.amount, payment.refunded_amount)
