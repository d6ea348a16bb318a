"""Booking.reschedule: who may move a booking, when, and what it costs (pure, no I/O)."""
from datetime import timedelta

import pytest

from contracts.errors.booking import (
    BookingCancelled,
    BookingRuleViolation,
    InvalidTransition,
    RescheduleLimitReached,
    RescheduleTooLate,
)
from services.booking.domain import Booking, BookingStatus, Hall, Tariff
from tests.unit.test_booking_domain import MONDAY, START, at, evening_tariff, make_hall, make_rules, placed

FRIDAY_BEFORE = at(MONDAY, 9, days=-3)           # three days ahead: a customer may move it
TUESDAY_10, TUESDAY_12 = at(MONDAY, 10, days=1), at(MONDAY, 12, days=1)   # 2 h at 3000 ₽/h
SATURDAY_10, SATURDAY_12 = at(MONDAY, 10, days=5), at(MONDAY, 12, days=5)  # 2 h at 5000 ₽/h
HALL = make_hall(tariff=evening_tariff())


def confirmed(paid, **overrides):
    """Monday 17:00–19:00 (7000 ₽), confirmed with `paid` kopecks."""
    return placed(**{"status": BookingStatus.CONFIRMED, "amount_paid": paid,
                     "hold_expires_at": None, "payment_ids": ["p-1"], **overrides})


def test_a_move_to_a_cheaper_time_refunds_what_was_paid_beyond_the_new_price():
    booking = confirmed(700_000)
    transition = booking.reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, FRIDAY_BEFORE,
                                    by="customer")
    assert transition == ("confirmed", "booking.rescheduled", 100_000)
    assert (booking.start, booking.end) == (TUESDAY_10, TUESDAY_12)
    assert (booking.price_total, booking.prepayment_amount) == (600_000, 180_000)
    assert (booking.amount_paid, booking.remaining_due) == (600_000, 0)
    assert booking.status == BookingStatus.CONFIRMED and booking.reschedules == 1


def test_a_move_to_a_dearer_time_leaves_more_due_and_refunds_nothing():
    booking = confirmed(210_000)
    transition = booking.reschedule(HALL, make_rules(), SATURDAY_10, SATURDAY_12,
                                    FRIDAY_BEFORE, by="customer")
    assert transition.refund_due == 0
    assert (booking.price_total, booking.amount_paid, booking.remaining_due) == \
        (1_000_000, 210_000, 790_000)


def test_a_prepayment_larger_than_a_new_lower_price_is_refunded_down_to_it():
    booking = confirmed(210_000)
    cheap = Hall(id=8, name="Small", description="", capacity=2, buffer_minutes=0, active=True,
                 tariff=Tariff(hourly_price=50_000), opening_hours=None)
    transition = booking.reschedule(cheap, make_rules(), TUESDAY_10, TUESDAY_12,
                                    FRIDAY_BEFORE, by="customer")
    assert booking.hall_id == 8 and booking.price_total == 100_000
    assert (transition.refund_due, booking.amount_paid) == (110_000, 100_000)


def test_an_operator_may_keep_the_old_price_a_customer_may_not():
    booking = confirmed(210_000)
    booking.reschedule(HALL, make_rules(), SATURDAY_10, SATURDAY_12, FRIDAY_BEFORE,
                       by="operator", keep_price=True)
    assert (booking.price_total, booking.prepayment_amount) == (700_000, 210_000)
    with pytest.raises(BookingRuleViolation) as refused:
        confirmed(210_000).reschedule(HALL, make_rules(), SATURDAY_10, SATURDAY_12,
                                      FRIDAY_BEFORE, by="customer", keep_price=True)
    assert "keep_price" in refused.value.details


def test_after_the_free_refund_deadline_only_an_operator_may_move_it():
    late = START - timedelta(hours=23, minutes=59)
    with pytest.raises(RescheduleTooLate) as refused:
        confirmed(210_000).reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, late,
                                      by="customer")
    assert refused.value.code == "reschedule_too_late"
    assert refused.value.details["deadline"] == (START - timedelta(hours=24)).isoformat()
    moved = confirmed(210_000)
    moved.reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, late, by="operator")
    assert moved.start == TUESDAY_10


def test_exactly_at_the_deadline_the_customer_may_still_move_it():
    booking = confirmed(210_000)
    booking.reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12,
                       START - timedelta(hours=24), by="customer")
    assert booking.start == TUESDAY_10


def test_a_customer_moves_a_booking_at_most_max_reschedules_times():
    rules = make_rules(max_reschedules=2)
    with pytest.raises(RescheduleLimitReached) as refused:
        confirmed(210_000, reschedules=2).reschedule(HALL, rules, TUESDAY_10, TUESDAY_12,
                                                     FRIDAY_BEFORE, by="customer")
    assert refused.value.details["limit"] == 2
    operator_moved = confirmed(210_000, reschedules=2)
    operator_moved.reschedule(HALL, rules, TUESDAY_10, TUESDAY_12, FRIDAY_BEFORE, by="operator")
    assert operator_moved.reschedules == 3


def test_a_move_to_a_time_the_rules_refuse_changes_nothing():
    booking = confirmed(210_000)
    before = (booking.start, booking.end, booking.price_total, booking.reschedules)
    with pytest.raises(BookingRuleViolation) as refused:
        booking.reschedule(HALL, make_rules(), at(MONDAY, 21, days=1), at(MONDAY, 23, days=1),
                           FRIDAY_BEFORE, by="operator")
    assert "end" in refused.value.details
    assert (booking.start, booking.end, booking.price_total, booking.reschedules) == before


def test_moving_to_the_same_time_and_hall_is_refused():
    with pytest.raises(BookingRuleViolation):
        confirmed(210_000).reschedule(HALL, make_rules(), START, START + timedelta(hours=2),
                                      FRIDAY_BEFORE, by="operator")


def test_a_hold_moves_with_its_expiry_unchanged():
    hold = placed()    # held at Monday 12:00 until 12:15
    now = at(MONDAY, 12, 5)
    transition = hold.reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, now,
                                 by="operator")
    assert transition.status == BookingStatus.PENDING_PAYMENT
    assert hold.hold_expires_at == at(MONDAY, 12, 15)


def test_a_hold_whose_time_has_run_out_cannot_be_moved():
    with pytest.raises(InvalidTransition):
        placed().reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, at(MONDAY, 12, 15),
                            by="operator")


@pytest.mark.parametrize("status", ["cancelled", "expired", "completed"])
def test_a_booking_that_holds_no_slot_cannot_be_moved(status):
    booking = confirmed(210_000, status=status)
    with pytest.raises(InvalidTransition) as refused:
        booking.reschedule(HALL, make_rules(), TUESDAY_10, TUESDAY_12, FRIDAY_BEFORE,
                           by="operator")
    assert isinstance(refused.value, BookingCancelled) == (status == "cancelled")


@pytest.mark.parametrize("paid", [0, 1, 180_000, 210_000, 600_000, 700_000])
@pytest.mark.parametrize("to", [(TUESDAY_10, TUESDAY_12), (SATURDAY_10, SATURDAY_12)])
def test_no_money_is_lost_or_made_by_a_move(paid, to):
    booking = confirmed(paid)
    transition = booking.reschedule(HALL, make_rules(), *to, FRIDAY_BEFORE, by="customer")
    assert booking.amount_paid + transition.refund_due == paid
    assert 0 <= booking.amount_paid <= booking.price_total


def test_a_booking_paid_at_the_desk_is_held_until_it_starts():
    desk = Booking.place("d", HALL, make_rules(), START, START + timedelta(hours=2),
                         at(MONDAY, 12), held_until_start=True)
    assert desk.hold_expires_at == START
    assert not desk.is_hold_expired(START - timedelta(minutes=1))
    assert desk.is_hold_expired(START)
