"""Closures in the pure calendar: blocks leave their time (and the buffer before them) out of
the free slots; special days give a date hours of their own."""
from datetime import timedelta

import pytest

from contracts.errors.booking import BookingRuleViolation
from services.booking.domain import Booking, check_booking_request, free_slots, special_hours
from tests.unit.test_booking_domain import MONDAY, at, make_hall, make_rules

NOW = at(MONDAY, 8, days=-7)
RULES = make_rules(min_notice_minutes=0)


def starts(days):
    return [slot.start.strftime("%H:%M") for slot in days[0].slots]


def test_a_closure_leaves_its_time_and_the_buffer_before_it_out_but_not_after_it():
    hall = make_hall(buffer_minutes=15)
    closure = (at(MONDAY, 12), at(MONDAY, 14))
    free = starts(free_slots(hall, RULES, [], MONDAY, MONDAY, NOW, closures=[closure]))
    assert "11:30" in free and "11:45" not in free      # a booking there needs its buffer
    assert "12:00" not in free and "13:45" not in free
    assert "14:00" in free                               # no cleaning after a closure


def test_closures_and_bookings_together_leave_only_what_both_leave():
    hall = make_hall()
    days = free_slots(hall, RULES, [(at(MONDAY, 9), at(MONDAY, 12))], MONDAY, MONDAY, NOW,
                      closures=[(at(MONDAY, 11), at(MONDAY, 20))])
    assert starts(days) == ["20:00", "20:15", "20:30", "20:45", "21:00", "21:15", "21:30",
                            "21:45"]


def test_a_closure_over_several_days_closes_each_of_them():
    days = free_slots(make_hall(), RULES, [], MONDAY, MONDAY + timedelta(days=2), NOW,
                      closures=[(at(MONDAY, 0), at(MONDAY, 0, days=2))])
    assert [len(day.slots) for day in days] == [0, 0, 52]


def test_a_short_day_keeps_its_own_hours_and_a_closed_one_none():
    special = {MONDAY: special_hours(["10:00", "16:00"]), MONDAY + timedelta(days=1): None}
    days = free_slots(make_hall(), RULES, [], MONDAY, MONDAY + timedelta(days=2), NOW,
                      special_days=special)
    assert starts(days)[0] == "10:00" and starts(days)[-1] == "15:45"
    assert days[1].slots == [] and len(days[2].slots) == 52


def test_a_booking_on_a_short_day_must_end_by_its_closing():
    special = {MONDAY: special_hours(["10:00", "16:00"])}
    with pytest.raises(BookingRuleViolation) as refused:
        check_booking_request(make_hall(), RULES, at(MONDAY, 15), at(MONDAY, 17), NOW, special)
    assert "16:00" in refused.value.details["end"][0]
    assert str(MONDAY) in refused.value.details["end"][0]
    check_booking_request(make_hall(), RULES, at(MONDAY, 14), at(MONDAY, 16), NOW, special)


def test_a_closed_special_day_refuses_any_booking_and_place_honours_it():
    special = {MONDAY: None}
    with pytest.raises(BookingRuleViolation) as refused:
        Booking.place("b", make_hall(), RULES, at(MONDAY, 10), at(MONDAY, 12), NOW,
                      special_days=special)
    assert refused.value.details["start"] == [f"the hall is closed on {MONDAY}"]


@pytest.mark.parametrize("hours", [["16:00", "10:00"], ["10:00", "10:00"], ["x", "y"],
                                   ["10:00"], "10:00-16:00"])
def test_nonsense_special_hours_are_refused(hours):
    with pytest.raises(ValueError):
        special_hours(hours)


def test_special_hours_may_close_at_midnight():
    assert special_hours(["18:00", "24:00"]) == (18 * 60, 24 * 60)
    assert special_hours(None) is None
