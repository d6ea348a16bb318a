"""The booking domain, case by case: rules, tariffs, prices, the calendar, a booking's life."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bench.calendar import month_with_100_bookings
from contracts.errors import base as errors
from contracts.errors.booking import (
    BookingCancelled,
    BookingNotFound,
    BookingRuleViolation,
    HallInactive,
    HallNameTaken,
    HallNotFound,
    InvalidTransition,
    SlotTaken,
    TooManyHolds,
)
from services.booking.domain import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Day,
    Hall,
    OpeningHours,
    Quote,
    Rules,
    Slot,
    Tariff,
    TariffRule,
    Transition,
    busy_range,
    check_booking_request,
    check_unpaid_holds,
    free_slots,
    is_on_grid,
    prepayment_for,
    price_slots,
    quote,
    slot_price,
)

MSK = ZoneInfo("Europe/Moscow")
WEEKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
MONDAY = date(2025, 6, 2)  # a Monday; 2025-06-07 is a Saturday


def at(day, hour, minute=0, *, days=0):
    """A Moscow wall-clock moment on `day` (+ days)."""
    return datetime.combine(day + timedelta(days=days), time(hour, minute), tzinfo=MSK)


def make_rules(**overrides):
    return Rules.from_config(overrides, "Europe/Moscow")


def make_hall(*, tariff=None, buffer_minutes=0, active=True, opening_hours=None):
    return Hall(id=7, name="White cyclorama", description="", capacity=10,
                buffer_minutes=buffer_minutes, active=active,
                tariff=tariff or Tariff(hourly_price=300_000), opening_hours=opening_hours)


def evening_tariff():
    """3000 ₽/h; weekday evenings from 18:00 4000 ₽/h; weekends all day 5000 ₽/h."""
    return Tariff(hourly_price=300_000, rules=(
        TariffRule(WEEKDAYS, time(18), time(0), 400_000),
        TariffRule(WEEKEND, time(0), time(0), 500_000),
    ))


def violations(excinfo):
    return excinfo.value.details


# --- the errors -------------------------------------------------------------------------

@pytest.mark.parametrize("error_type, base, code", [
    (HallNotFound, errors.NotFound, "hall_not_found"),
    (BookingNotFound, errors.NotFound, "booking_not_found"),
    (SlotTaken, errors.Conflict, "slot_taken"),
    (HallInactive, errors.Conflict, "hall_inactive"),
    (HallNameTaken, errors.Conflict, "hall_name_taken"),
    (BookingRuleViolation, errors.InvalidRequest, "validation_error"),
    (InvalidTransition, errors.Conflict, "invalid_transition"),
    (BookingCancelled, InvalidTransition, "invalid_transition"),
])
def test_booking_errors_carry_their_code_and_rebuild_from_their_args(error_type, base, code):
    error = error_type("slot 10:00 is taken", {"start": ["taken"]})
    rebuilt = error_type(*error.args)
    assert isinstance(error, base)
    assert error.code == code
    assert (rebuilt.message, rebuilt.details) == ("slot 10:00 is taken", {"start": ["taken"]})


def test_invalid_transition_is_the_common_one():
    assert InvalidTransition is errors.InvalidTransition


# --- rules and opening hours ------------------------------------------------------------

def test_rules_default_to_the_studio_defaults():
    rules = Rules.from_config({}, "Europe/Moscow")
    assert (rules.slot_minutes, rules.min_duration_minutes, rules.max_duration_minutes) == (15, 60, 720)
    assert (rules.horizon_days, rules.min_notice_minutes, rules.hold_minutes) == (180, 60, 15)
    assert (rules.prepayment_percent, rules.full_refund_hours, rules.max_range_days) == (30, 24, 62)
    assert rules.currency == "RUB"
    assert rules.tz == MSK
    assert all(rules.opening_hours.days[d] == (time(9), time(22)) for d in range(7))


def test_rules_take_config_values_and_ignore_other_keys():
    rules = Rules.from_config({"hold_minutes": 20, "prepayment_percent": 50,
                               "expiry_check_seconds": 30, "currency": None}, "Europe/Moscow")
    assert (rules.hold_minutes, rules.prepayment_percent, rules.currency) == (20, 50, "RUB")


def test_opening_hours_take_a_default_a_weekday_override_and_a_closed_day():
    rules = make_rules(opening_hours={"default": ["09:00", "22:00"], "sat": ["10:00", "20:00"],
                                      "sun": None})
    assert rules.opening_hours.days[0] == (time(9), time(22))
    assert rules.opening_hours.days[5] == (time(10), time(20))
    assert rules.opening_hours.days[6] is None
    assert rules.opening_hours.minutes(5) == (600, 1200)


def test_studio_opening_hours_without_default_keep_the_9_to_22_default_for_unnamed_days():
    rules = make_rules(opening_hours={"sun": None})
    assert rules.opening_hours.days[0] == (time(9), time(22))
    assert rules.opening_hours.days[6] is None


def test_hall_opening_hours_without_default_are_closed_on_unnamed_days():
    hours = OpeningHours.parse({"mon": ["12:00", "18:00"]})
    assert hours.days[0] == (time(12), time(18))
    assert hours.days[1:] == (None,) * 6


def test_opening_hours_until_24_00_close_at_midnight_and_round_trip():
    hours = OpeningHours.parse({"default": ["00:00", "24:00"]})
    assert hours.days[0] == (time(0), time(0))
    assert hours.minutes(0) == (0, 1440)
    assert OpeningHours.parse(hours.to_dict()) == hours
    assert hours.to_dict()["mon"] == ["00:00", "24:00"]


@pytest.mark.parametrize("raw", [
    {"default": ["22:00", "09:00"]},
    {"default": ["24:00", "24:00"]},
    {"mon": ["9am", "10pm"]},
    {"monday": ["09:00", "22:00"]},
    {"default": ["09:00"]},
])
def test_malformed_opening_hours_are_refused(raw):
    with pytest.raises(ValueError):
        OpeningHours.parse(raw)


@pytest.mark.parametrize("cfg", [
    {"slot_minutes": 7},
    {"slot_minutes": 0},
    {"min_duration_minutes": 120, "max_duration_minutes": 60},
    {"prepayment_percent": 101},
    {"hold_minutes": 1.5},
])
def test_nonsense_rules_are_refused(cfg):
    with pytest.raises(ValueError):
        make_rules(**cfg)


def test_unknown_time_zone_is_refused():
    with pytest.raises(Exception):
        Rules.from_config({}, "Mars/Olympus_Mons")


# --- tariffs ----------------------------------------------------------------------------

def test_slot_price_is_the_hourly_price_pro_rata_rounded_half_up_to_a_kopeck():
    assert slot_price(300_000, 15) == 75_000
    assert slot_price(100_002, 15) == 25_001  # 25 000.5
    assert slot_price(100_001, 15) == 25_000  # 25 000.25
    assert slot_price(100_003, 15) == 25_001  # 25 000.75


def test_last_matching_tariff_rule_wins():
    tariff = Tariff(hourly_price=300_000, rules=(
        TariffRule(WEEKDAYS, time(18), time(0), 400_000),
        TariffRule(frozenset({4}), time(20), time(0), 450_000),
    ))
    assert tariff.hourly_rate(4, 19 * 60) == 400_000
    assert tariff.hourly_rate(4, 20 * 60) == 450_000
    assert tariff.hourly_rate(3, 20 * 60) == 400_000
    assert tariff.hourly_rate(5, 20 * 60) == 300_000


def test_tariff_rule_start_is_inclusive_and_end_exclusive():
    tariff = Tariff(300_000, (TariffRule(WEEKDAYS, time(10), time(12), 100_000),))
    assert tariff.hourly_rate(0, 9 * 60 + 45) == 300_000
    assert tariff.hourly_rate(0, 10 * 60) == 100_000
    assert tariff.hourly_rate(0, 11 * 60 + 45) == 100_000
    assert tariff.hourly_rate(0, 12 * 60) == 300_000


def test_tariff_rule_ending_at_midnight_covers_the_last_slot_of_the_day():
    tariff = Tariff(300_000, (TariffRule(WEEKDAYS, "18:00", "24:00", 400_000),))
    assert tariff.rules[0].end == time(0)
    assert tariff.hourly_rate(0, 23 * 60 + 45) == 400_000
    assert tariff.hourly_rate(0, 0) == 300_000


def test_tariff_round_trips_through_json_friendly_dict():
    tariff = evening_tariff()
    stored = tariff.to_dict()
    assert stored == {"hourly_price": 300_000, "currency": "RUB", "rules": [
        {"weekdays": [0, 1, 2, 3, 4], "start": "18:00", "end": "24:00", "hourly_price": 400_000},
        {"weekdays": [5, 6], "start": "00:00", "end": "24:00", "hourly_price": 500_000},
    ]}
    assert Tariff.from_dict(stored) == tariff


def test_tariff_rule_weekdays_may_be_named():
    rule = TariffRule.from_dict({"weekdays": ["sat", "sun"], "start": "10:00", "end": "14:00",
                                 "hourly_price": 1})
    assert rule.weekdays == WEEKEND


@pytest.mark.parametrize("raw", [
    {"weekdays": [5], "start": "14:00", "end": "10:00", "hourly_price": 1},
    {"weekdays": [7], "start": "10:00", "end": "14:00", "hourly_price": 1},
    {"weekdays": [], "start": "10:00", "end": "14:00", "hourly_price": 1},
    {"weekdays": [1], "start": "10:00", "end": "14:00", "hourly_price": 10.5},
    {"weekdays": [1], "start": "10:00", "end": "14:00", "hourly_price": -1},
])
def test_malformed_tariff_rule_is_refused(raw):
    with pytest.raises(ValueError):
        TariffRule.from_dict(raw)


# --- prices and quotes ------------------------------------------------------------------

def test_booking_across_evening_rate_change_is_priced_per_slot():
    hall = make_hall(tariff=evening_tariff())
    slots = price_slots(hall, make_rules(), at(MONDAY, 17), at(MONDAY, 19))
    assert [s.price for s in slots] == [75_000] * 4 + [100_000] * 4
    assert slots[0] == Slot(at(MONDAY, 17), at(MONDAY, 17, 15), 75_000)
    assert quote(hall, make_rules(), at(MONDAY, 17), at(MONDAY, 19)) == Quote(700_000, 210_000, "RUB")


def test_tariff_weekday_is_the_studio_local_weekday_not_utc():
    hall = make_hall(tariff=evening_tariff())
    # Monday 01:00 in Moscow is still Sunday 22:00 in UTC: the Monday night rate applies
    monday_night = at(MONDAY, 1).astimezone(timezone.utc)
    assert monday_night.weekday() == 6
    assert quote(hall, make_rules(), monday_night, monday_night + timedelta(hours=1)).price_total == 300_000


def test_quote_is_the_same_for_the_same_moments_in_any_time_zone():
    hall = make_hall(tariff=evening_tariff())
    in_utc = quote(hall, make_rules(), at(MONDAY, 17).astimezone(timezone.utc),
                   at(MONDAY, 19).astimezone(timezone.utc))
    assert in_utc == quote(hall, make_rules(), at(MONDAY, 17), at(MONDAY, 19))


def test_priced_slots_are_in_the_studio_time_zone():
    slots = price_slots(make_hall(), make_rules(), at(MONDAY, 10).astimezone(timezone.utc),
                        at(MONDAY, 11).astimezone(timezone.utc))
    assert all(s.start.tzinfo == MSK and s.end.tzinfo == MSK for s in slots)


def test_prepayment_is_rounded_up_to_a_whole_ruble():
    hall = make_hall(tariff=Tariff(hourly_price=100_100))  # 1001 ₽ an hour; 30 % is 300.30 ₽
    assert quote(hall, make_rules(), at(MONDAY, 10), at(MONDAY, 11)) == Quote(100_100, 30_100, "RUB")
    assert prepayment_for(100_000, 30) == 30_000
    assert prepayment_for(100_001, 30) == 30_100


def test_prepayment_never_exceeds_the_price():
    assert prepayment_for(150, 90) == 150  # 1.35 ₽ would round up to 2 ₽
    assert prepayment_for(75_050, 100) == 75_050


def test_zero_percent_prepayment_is_nothing_up_front():
    assert quote(make_hall(), make_rules(prepayment_percent=0), at(MONDAY, 10),
                 at(MONDAY, 11)).prepayment_amount == 0


def test_quote_carries_the_tariff_currency():
    hall = make_hall(tariff=Tariff(hourly_price=5_000, currency="USD"))
    assert quote(hall, make_rules(), at(MONDAY, 10), at(MONDAY, 11)).currency == "USD"


def test_pricing_an_off_grid_range_names_the_field():
    with pytest.raises(BookingRuleViolation) as excinfo:
        price_slots(make_hall(), make_rules(), at(MONDAY, 10, 5), at(MONDAY, 10))
    assert set(violations(excinfo)) == {"start", "end"}


# --- the rules of a booking request ------------------------------------------------------

NOW = at(MONDAY, 8)


def check(start, end, *, hall=None, rules=None, now=NOW):
    check_booking_request(hall or make_hall(), rules or make_rules(), start, end, now)


def refused(start, end, **kwargs):
    with pytest.raises(BookingRuleViolation) as excinfo:
        check(start, end, **kwargs)
    assert excinfo.value.code == "validation_error"
    return excinfo.value.details


def test_booking_within_the_rules_passes():
    assert check(at(MONDAY, 10), at(MONDAY, 12)) is None


def test_booking_of_the_whole_opening_day_passes():
    check(at(MONDAY, 9), at(MONDAY, 21), rules=make_rules(min_notice_minutes=0))


def test_start_off_the_grid_is_refused_naming_start():
    assert refused(at(MONDAY, 10, 10), at(MONDAY, 12)) == {
        "start": ["must be on the 15-minute grid (e.g. 10:00, 10:15)"]}


def test_end_off_the_grid_is_refused_naming_end():
    assert list(refused(at(MONDAY, 10), at(MONDAY, 12, 20))) == ["end"]


def test_seconds_off_the_grid_are_refused():
    assert list(refused(at(MONDAY, 10) + timedelta(seconds=1), at(MONDAY, 12))) == ["start"]


def test_end_not_after_start_is_refused_naming_end():
    assert refused(at(MONDAY, 12), at(MONDAY, 12)) == {"end": ["must be after start"]}
    assert refused(at(MONDAY, 12), at(MONDAY, 11)) == {"end": ["must be after start"]}


def test_booking_shorter_than_the_minimum_is_refused_naming_end():
    assert refused(at(MONDAY, 10), at(MONDAY, 10, 45)) == {
        "end": ["the booking must last at least 1 hour"]}


def test_booking_longer_than_the_maximum_is_refused_naming_end():
    rules = make_rules(opening_hours={"default": ["00:00", "24:00"]})
    assert refused(at(MONDAY, 10), at(MONDAY, 22, 15), rules=rules) == {
        "end": ["the booking must last no more than 12 hours"]}
    check(at(MONDAY, 10), at(MONDAY, 22), rules=rules)


def test_start_before_opening_is_refused_naming_start():
    details = refused(at(MONDAY, 8, 45), at(MONDAY, 10), now=at(MONDAY, 7))
    assert details == {"start": ["the hall opens at 09:00 on Mondays"]}


def test_end_after_closing_is_refused_naming_end():
    assert list(refused(at(MONDAY, 21), at(MONDAY, 22, 15))) == ["end"]


def test_booking_past_midnight_is_outside_opening_hours():
    rules = make_rules(opening_hours={"default": ["00:00", "24:00"]})
    assert list(refused(at(MONDAY, 23), at(MONDAY, 1, days=1), rules=rules)) == ["end"]


def test_booking_ending_at_midnight_fits_a_day_open_until_24_00():
    rules = make_rules(opening_hours={"default": ["10:00", "24:00"]})
    check(at(MONDAY, 22), at(MONDAY, 0, days=1), rules=rules)


def test_booking_on_a_closed_day_is_refused_naming_start():
    rules = make_rules(opening_hours={"default": ["09:00", "22:00"], "mon": None})
    details = refused(at(MONDAY, 10), at(MONDAY, 12), rules=rules)
    assert details == {"start": ["the hall is closed on Mondays (2025-06-02)"]}


def test_hall_opening_hours_override_the_studio_default():
    late_hall = make_hall(opening_hours=OpeningHours.parse({"default": ["12:00", "24:00"]}))
    assert list(refused(at(MONDAY, 10), at(MONDAY, 12), hall=late_hall)) == ["start"]
    check(at(MONDAY, 22), at(MONDAY, 0, days=1), hall=late_hall)


def test_opening_hours_are_judged_on_the_studio_wall_clock():
    # 06:00 UTC is 09:00 in Moscow: the hall is open
    check(datetime(2025, 6, 2, 6, 0, tzinfo=timezone.utc), datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc))


def test_start_in_the_past_is_refused_naming_start():
    assert refused(at(MONDAY, 10), at(MONDAY, 12), now=at(MONDAY, 10, 5)) == {
        "start": ["is in the past"]}


def test_start_sooner_than_the_minimum_notice_is_refused_naming_start():
    assert refused(at(MONDAY, 10), at(MONDAY, 12), now=at(MONDAY, 9, 1)) == {
        "start": ["must be at least 1 hour from now"]}


def test_start_exactly_at_the_minimum_notice_is_allowed():
    check(at(MONDAY, 10), at(MONDAY, 12), now=at(MONDAY, 9))


def test_start_beyond_the_horizon_is_refused_naming_start():
    assert refused(at(MONDAY, 10, days=181), at(MONDAY, 12, days=181)) == {
        "start": ["must be no more than 180 days ahead"]}
    check(at(MONDAY, 10, days=180), at(MONDAY, 12, days=180), now=at(MONDAY, 10))


def test_every_broken_rule_is_reported_at_once():
    details = refused(at(MONDAY, 7, 10), at(MONDAY, 7, 45), now=at(MONDAY, 8))
    assert set(details) == {"start", "end"}
    assert len(details["start"]) == 3  # off grid, before opening, in the past
    assert len(details["end"]) == 1  # too short


def test_inactive_hall_is_refused_with_hall_inactive():
    with pytest.raises(HallInactive) as excinfo:
        check(at(MONDAY, 10), at(MONDAY, 12), hall=make_hall(active=False))
    assert excinfo.value.code == "hall_inactive"
    assert excinfo.value.details == {"hall_id": "7"}


@pytest.mark.parametrize("naive", ["start", "end", "now"])
def test_naive_datetimes_are_refused(naive):
    moments = {"start": at(MONDAY, 10), "end": at(MONDAY, 12), "now": NOW}
    moments[naive] = moments[naive].replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_booking_request(make_hall(), make_rules(), **moments)


def test_naive_datetimes_are_refused_by_pricing_and_the_calendar():
    naive = datetime(2025, 6, 2, 10, 0)
    with pytest.raises(ValueError):
        quote(make_hall(), make_rules(), naive, at(MONDAY, 12))
    with pytest.raises(ValueError):
        free_slots(make_hall(), make_rules(), [], MONDAY, MONDAY, naive)
    with pytest.raises(ValueError):
        free_slots(make_hall(), make_rules(), [(naive, at(MONDAY, 12))], MONDAY, MONDAY, NOW)


def test_the_grid_is_the_studio_wall_clock():
    india = Rules.from_config({"slot_minutes": 60}, "Asia/Kolkata")
    ten_in_india = datetime(2025, 6, 2, 4, 30, tzinfo=timezone.utc)
    assert is_on_grid(ten_in_india, india)
    assert not is_on_grid(datetime(2025, 6, 2, 5, 0, tzinfo=timezone.utc), india)


def test_busy_range_adds_the_cleaning_buffer_after_the_end():
    assert busy_range(at(MONDAY, 10), at(MONDAY, 12), 30) == (at(MONDAY, 10), at(MONDAY, 12, 30))
    assert busy_range(at(MONDAY, 10), at(MONDAY, 12), 0) == (at(MONDAY, 10), at(MONDAY, 12))


# --- the calendar -----------------------------------------------------------------------

def starts(day):
    return [s.start.strftime("%H:%M") for s in day.slots]


def test_empty_calendar_offers_every_slot_of_the_opening_hours():
    [day] = free_slots(make_hall(), make_rules(), [], MONDAY, MONDAY, at(MONDAY, 0))
    assert day.date == MONDAY
    assert len(day.slots) == 52
    assert day.slots[0] == Slot(at(MONDAY, 9), at(MONDAY, 9, 15), 75_000)
    assert day.slots[-1] == Slot(at(MONDAY, 21, 45), at(MONDAY, 22), 75_000)


def test_free_slots_are_in_the_studio_time_zone():
    [day] = free_slots(make_hall(), make_rules(), [], MONDAY, MONDAY, at(MONDAY, 0))
    assert all(s.start.tzinfo == MSK and s.end.tzinfo == MSK for s in day.slots)


def test_existing_booking_blocks_its_buffer_on_both_sides():
    hall = make_hall(buffer_minutes=30)
    [day] = free_slots(hall, make_rules(), [(at(MONDAY, 12), at(MONDAY, 14))], MONDAY, MONDAY,
                       at(MONDAY, 0))
    free = starts(day)
    assert "11:15" in free and "14:30" in free
    assert not {"11:30", "11:45", "12:00", "13:45", "14:00", "14:15"} & set(free)


def test_buffer_off_the_grid_pushes_the_next_free_slot_to_the_grid():
    hall = make_hall(buffer_minutes=10)
    [day] = free_slots(hall, make_rules(), [(at(MONDAY, 12), at(MONDAY, 14))], MONDAY, MONDAY,
                       at(MONDAY, 0))
    free = starts(day)
    assert "11:30" in free and "11:45" not in free
    assert "14:00" not in free and "14:15" in free


def test_a_new_booking_on_the_free_slots_before_a_booking_keeps_the_buffer():
    hall = make_hall(buffer_minutes=15)
    existing = (at(MONDAY, 14), at(MONDAY, 16))
    [day] = free_slots(hall, make_rules(), [existing], MONDAY, MONDAY, at(MONDAY, 0))
    last_before = max(s.end for s in day.slots if s.end <= existing[0])
    assert busy_range(at(MONDAY, 12), last_before, hall.buffer_minutes)[1] <= existing[0]


def test_overlapping_and_unsorted_bookings_block_their_union():
    bookings = [(at(MONDAY, 15), at(MONDAY, 17)), (at(MONDAY, 10), at(MONDAY, 12)),
                (at(MONDAY, 11), at(MONDAY, 13))]
    [day] = free_slots(make_hall(), make_rules(), bookings, MONDAY, MONDAY, at(MONDAY, 0))
    assert starts(day)[:4] == ["09:00", "09:15", "09:30", "09:45"]
    assert "13:00" in starts(day) and "14:45" in starts(day)
    assert not {"10:00", "12:45", "15:00", "16:45"} & set(starts(day))


def test_bookings_given_in_utc_block_the_same_slots():
    in_moscow = [(at(MONDAY, 12), at(MONDAY, 14))]
    in_utc = [(s.astimezone(timezone.utc), e.astimezone(timezone.utc)) for s, e in in_moscow]
    args = (MONDAY, MONDAY, at(MONDAY, 0))
    assert free_slots(make_hall(), make_rules(), in_utc, *args) == \
        free_slots(make_hall(), make_rules(), in_moscow, *args)


def test_slots_start_no_sooner_than_the_minimum_notice():
    [day] = free_slots(make_hall(), make_rules(), [], MONDAY, MONDAY, at(MONDAY, 10, 7))
    assert starts(day)[0] == "11:15"


def test_slots_stop_at_the_horizon():
    rules = make_rules(horizon_days=1, min_notice_minutes=0)
    today, tomorrow, after = free_slots(make_hall(), rules, [], MONDAY, MONDAY + timedelta(days=2),
                                        at(MONDAY, 12))
    assert starts(today)[0] == "12:00"
    assert starts(tomorrow)[-1] == "12:00"
    assert after.slots == []


def test_past_days_have_no_slots():
    yesterday, today = free_slots(make_hall(), make_rules(), [], MONDAY - timedelta(days=1), MONDAY,
                                  at(MONDAY, 8))
    assert yesterday.slots == [] and starts(today)[0] == "09:00"


def test_closed_day_is_listed_without_slots():
    rules = make_rules(opening_hours={"default": ["09:00", "22:00"], "tue": None})
    days = free_slots(make_hall(), rules, [], MONDAY, MONDAY + timedelta(days=2), at(MONDAY, 0))
    assert [d.date for d in days] == [MONDAY + timedelta(days=n) for n in range(3)]
    assert [len(d.slots) for d in days] == [52, 0, 52]


def test_opening_at_an_off_grid_time_starts_at_the_next_slot_and_ends_before_closing():
    hall = make_hall(opening_hours=OpeningHours.parse({"default": ["09:10", "21:50"]}))
    [day] = free_slots(hall, make_rules(), [], MONDAY, MONDAY, at(MONDAY, 0))
    assert starts(day)[0] == "09:15"
    assert day.slots[-1].end == at(MONDAY, 21, 45)


def test_free_slots_of_a_day_open_until_midnight_end_at_midnight():
    hall = make_hall(opening_hours=OpeningHours.parse({"default": ["20:00", "24:00"]}))
    [day] = free_slots(hall, make_rules(), [], MONDAY, MONDAY, at(MONDAY, 0))
    assert day.slots[-1].end == at(MONDAY, 0, days=1)
    assert len(day.slots) == 16


def test_free_slot_prices_follow_the_tariff():
    hall = make_hall(tariff=evening_tariff())
    monday, *_, saturday = free_slots(hall, make_rules(), [], MONDAY, MONDAY + timedelta(days=5),
                                      at(MONDAY, 0))
    prices = {s.start.strftime("%H:%M"): s.price for s in monday.slots}
    assert prices["17:45"] == 75_000 and prices["18:00"] == 100_000
    assert {s.price for s in saturday.slots} == {125_000}


def test_range_ending_before_it_starts_is_refused_naming_end_date():
    with pytest.raises(BookingRuleViolation) as excinfo:
        free_slots(make_hall(), make_rules(), [], MONDAY, MONDAY - timedelta(days=1), NOW)
    assert list(excinfo.value.details) == ["end_date"]


def test_range_longer_than_max_range_days_is_refused_naming_end_date():
    rules = make_rules()
    assert len(free_slots(make_hall(), rules, [], MONDAY, MONDAY + timedelta(days=61), NOW)) == 62
    with pytest.raises(BookingRuleViolation) as excinfo:
        free_slots(make_hall(), rules, [], MONDAY, MONDAY + timedelta(days=62), NOW)
    assert excinfo.value.details == {"end_date": ["the range may cover at most 62 days"]}


def test_inactive_hall_has_no_calendar():
    with pytest.raises(HallInactive):
        free_slots(make_hall(active=False), make_rules(), [], MONDAY, MONDAY, NOW)


def test_a_hall_month_with_100_bookings_leaves_the_slots_between_them():
    # its speed is measured by `python -m bench.calendar`, not here
    args = month_with_100_bookings()
    days = free_slots(*args)
    assert len(days) == 31 and sum(len(d.slots) for d in days) > 500


# --- a booking's life -------------------------------------------------------------------

START = at(MONDAY, 17)


def placed(**overrides):
    booking = Booking.place("b-1", make_hall(tariff=evening_tariff()), make_rules(), START,
                            START + timedelta(hours=2), at(MONDAY, 12),
                            customer={"name": "Анна", "phone": "+79990000000"})
    for name, value in overrides.items():
        setattr(booking, name, value)
    return booking


def test_placed_booking_holds_the_slot_unpaid_with_the_quoted_price():
    booking = placed()
    assert booking.status == BookingStatus.PENDING_PAYMENT == "pending_payment"
    assert booking.is_active
    assert (booking.price_total, booking.prepayment_amount, booking.amount_paid) == (700_000, 210_000, 0)
    assert booking.currency == "RUB"
    assert booking.hall_id == 7
    assert booking.hold_expires_at == at(MONDAY, 12, 15)
    assert booking.remaining_due == 700_000
    assert booking.customer == {"name": "Анна", "phone": "+79990000000"}


def test_placing_a_booking_that_breaks_the_rules_is_refused():
    with pytest.raises(BookingRuleViolation):
        Booking.place("b-2", make_hall(), make_rules(), at(MONDAY, 10), at(MONDAY, 10, 30),
                      at(MONDAY, 8))


def test_hold_never_outlasts_the_start():
    booking = Booking.place("b-3", make_hall(), make_rules(min_notice_minutes=0), at(MONDAY, 10),
                            at(MONDAY, 11), at(MONDAY, 9, 50))
    assert booking.hold_expires_at == at(MONDAY, 10)


def test_active_statuses_are_the_ones_holding_the_slot():
    assert ACTIVE_STATUSES == {"pending_payment", "confirmed"}


def test_payment_confirms_a_pending_booking():
    booking = placed()
    assert booking.confirm("pay-1", 210_000, at(MONDAY, 12, 5)) == Transition(
        BookingStatus.CONFIRMED, "booking.confirmed")
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.amount_paid == 210_000
    assert booking.payment_ids == ["pay-1"]
    assert booking.remaining_due == 490_000


def test_confirm_with_the_same_payment_twice_changes_nothing():
    booking = placed()
    booking.confirm("pay-1", 210_000, at(MONDAY, 12, 5))
    assert booking.confirm("pay-1", 210_000, at(MONDAY, 12, 6)) is None
    assert booking.amount_paid == 210_000
    assert booking.payment_ids == ["pay-1"]


def test_remainder_payment_is_added_to_a_confirmed_booking():
    booking = placed()
    booking.confirm("pay-1", 210_000, at(MONDAY, 12, 5))
    assert booking.confirm("pay-2", 490_000, at(MONDAY, 16)) == Transition(
        BookingStatus.CONFIRMED, "booking.payment_recorded")
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.amount_paid == 700_000 and booking.remaining_due == 0
    assert booking.payment_ids == ["pay-1", "pay-2"]


@pytest.mark.parametrize("order", [("pre", "full"), ("full", "pre")])
def test_what_two_payments_bring_beyond_the_price_is_kept_apart_whatever_their_order(order):
    """A prepayment and a full payment paid side by side: the booking counts the price once;
    the excess is fixed on the payment that brought it, and a repeat changes nothing."""
    amounts = {"pre": 210_000, "full": 700_000}
    booking = placed()
    first, second = order
    booking.confirm(first, amounts[first], at(MONDAY, 12, 5))
    assert booking.overpaid == {}
    booking.confirm(second, amounts[second], at(MONDAY, 12, 6))
    assert booking.amount_paid == 700_000 and booking.remaining_due == 0
    assert booking.overpaid == {second: min(amounts[second], 210_000)}
    assert booking.confirm(second, amounts[second], at(MONDAY, 12, 7)) is None
    assert booking.overpaid == {second: min(amounts[second], 210_000)}
    assert booking.amount_paid + sum(booking.overpaid.values()) == 910_000


def test_a_payment_to_a_booking_paid_in_full_is_all_overpaid():
    booking = placed()
    booking.confirm("pay-1", 700_000, at(MONDAY, 12, 5))
    booking.confirm("pay-2", 210_000, at(MONDAY, 12, 6))
    assert booking.amount_paid == 700_000 and booking.overpaid == {"pay-2": 210_000}


def test_payment_after_the_hold_expired_still_confirms():
    booking = placed()
    late = at(MONDAY, 13)
    assert booking.is_hold_expired(late)
    assert booking.confirm("pay-1", 210_000, late).event == "booking.confirmed"
    assert booking.status == BookingStatus.CONFIRMED
    assert not booking.is_hold_expired(late)


def test_operator_confirms_a_cash_payment():
    booking = placed()
    booking.confirm("cash:5b0e1b36-7f0c-4a43-9d38-2b1f6d3c4a11", 700_000, at(MONDAY, 12, 5))
    assert booking.status == BookingStatus.CONFIRMED and booking.remaining_due == 0


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.EXPIRED,
                                    BookingStatus.COMPLETED])
def test_a_payment_cannot_confirm_a_finished_booking(status):
    booking = placed(status=status)
    with pytest.raises(InvalidTransition) as excinfo:
        booking.confirm("pay-1", 210_000, at(MONDAY, 12, 5))
    assert excinfo.value.details == {"booking_id": "b-1", "status": status, "action": "confirm"}
    assert booking.amount_paid == 0 and booking.payment_ids == []
    # the one a caller acts on (its payment is refunded) is a class of its own
    assert isinstance(excinfo.value, BookingCancelled) == (status == BookingStatus.CANCELLED)


def test_a_repeated_payment_on_a_cancelled_booking_changes_nothing():
    booking = placed()
    booking.confirm("pay-1", 210_000, at(MONDAY, 12, 5))
    booking.cancel("operator", at(MONDAY, 13))
    assert booking.confirm("pay-1", 210_000, at(MONDAY, 13, 5)) is None
    assert booking.status == BookingStatus.CANCELLED


@pytest.mark.parametrize("amount", [0, -100, 100.0, True])
def test_a_payment_must_be_a_positive_number_of_kopecks(amount):
    booking = placed()
    with pytest.raises(BookingRuleViolation) as excinfo:
        booking.confirm("pay-1", amount, at(MONDAY, 12, 5))
    assert list(excinfo.value.details) == ["amount"]
    assert booking.status == BookingStatus.PENDING_PAYMENT


def test_a_payment_needs_an_id():
    with pytest.raises(BookingRuleViolation) as excinfo:
        placed().confirm("", 210_000, at(MONDAY, 12, 5))
    assert list(excinfo.value.details) == ["payment_id"]


def paid_booking(amount=210_000):
    booking = placed()
    booking.confirm("pay-1", amount, at(MONDAY, 12, 5))
    return booking


def test_cancel_exactly_24h_before_start_refunds_everything():
    booking = paid_booking()
    assert booking.cancel("customer", START - timedelta(hours=24)).refund_due == 210_000
    assert booking.status == BookingStatus.CANCELLED
    assert not booking.is_active


def test_customer_cancelling_23h59_before_start_keeps_prepayment():
    booking = paid_booking()
    assert booking.cancel("customer", START - timedelta(hours=23, minutes=59)).refund_due == 0


def test_customer_cancelling_late_after_paying_in_full_gets_all_but_the_prepayment_back():
    booking = paid_booking(700_000)
    assert booking.refund_due_on_cancel("customer", START - timedelta(hours=2)) == 490_000


def test_customer_cancelling_an_unpaid_booking_is_due_nothing():
    booking = placed()
    assert booking.cancel("customer", at(MONDAY, 12, 5)).refund_due == 0
    assert booking.status == BookingStatus.CANCELLED


def test_operator_cancelling_refunds_everything_even_on_the_day():
    booking = paid_booking()
    assert booking.cancel("operator", START - timedelta(minutes=30)).refund_due == 210_000


def test_full_refund_window_is_given_by_the_caller():
    booking = paid_booking()
    assert booking.refund_due_on_cancel("customer", START - timedelta(hours=30),
                                        full_refund_hours=48) == 0
    assert booking.refund_due_on_cancel("customer", START - timedelta(hours=30)) == 210_000


def test_refund_window_is_measured_in_real_time_whatever_the_zone_of_now():
    booking = paid_booking()
    now_in_utc = (START - timedelta(hours=24)).astimezone(timezone.utc)
    assert booking.refund_due_on_cancel("customer", now_in_utc) == 210_000


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.EXPIRED,
                                    BookingStatus.COMPLETED])
def test_a_finished_booking_cannot_be_cancelled(status):
    booking = placed(status=status)
    with pytest.raises(InvalidTransition):
        booking.cancel("operator", at(MONDAY, 13))
    assert booking.status == status


def test_cancelling_needs_to_know_who_cancels():
    with pytest.raises(ValueError):
        placed().cancel("robot", at(MONDAY, 13))


def test_unpaid_booking_expires_when_its_hold_runs_out():
    booking = placed()
    booking.expire(at(MONDAY, 12, 15))
    assert booking.status == BookingStatus.EXPIRED
    assert not booking.is_active


def test_hold_does_not_expire_a_moment_before_it_runs_out():
    booking = placed()
    almost = at(MONDAY, 12, 15) - timedelta(microseconds=1)
    assert not booking.is_hold_expired(almost)
    with pytest.raises(InvalidTransition):
        booking.expire(almost)
    assert booking.status == BookingStatus.PENDING_PAYMENT


def test_confirmed_booking_does_not_expire():
    booking = paid_booking()
    with pytest.raises(InvalidTransition):
        booking.expire(at(MONDAY, 13))
    assert booking.status == BookingStatus.CONFIRMED


def test_confirmed_booking_completes_once_it_has_ended():
    booking = paid_booking()
    booking.complete(START + timedelta(hours=2))
    assert booking.status == BookingStatus.COMPLETED
    assert not booking.is_active


def test_booking_cannot_complete_before_it_ends():
    booking = paid_booking()
    with pytest.raises(InvalidTransition):
        booking.complete(START + timedelta(hours=1, minutes=59))
    assert booking.status == BookingStatus.CONFIRMED


def test_unpaid_booking_cannot_complete():
    with pytest.raises(InvalidTransition):
        placed().complete(START + timedelta(hours=3))


def test_booking_refuses_naive_times_and_unknown_statuses():
    with pytest.raises(ValueError):
        Booking(id=1, hall_id=7, start=datetime(2025, 6, 2, 10), end=at(MONDAY, 12),
                status="pending_payment", price_total=1, prepayment_amount=1)
    with pytest.raises(ValueError):
        Booking(id=1, hall_id=7, start=at(MONDAY, 10), end=at(MONDAY, 12), status="paid",
                price_total=1, prepayment_amount=1)
    with pytest.raises(ValueError):
        placed().confirm("pay-1", 1, datetime(2025, 6, 2, 12))


def test_days_and_slots_are_plain_tuples():
    day = Day(MONDAY, [Slot(at(MONDAY, 10), at(MONDAY, 10, 15), 75_000)])
    assert day.date == MONDAY and day.slots[0].price == 75_000
    assert tuple(day.slots[0]) == (at(MONDAY, 10), at(MONDAY, 10, 15), 75_000)


def test_each_move_of_a_booking_names_its_status_and_event():
    booking = placed()
    assert booking.expire(at(MONDAY, 12, 15)) == Transition(BookingStatus.EXPIRED,
                                                            "booking.expired")
    booking.retake_slot()
    assert booking.status == BookingStatus.PENDING_PAYMENT
    assert booking.confirm("pay-1", 210_000, at(MONDAY, 13)).event == "booking.confirmed"
    assert booking.complete(START + timedelta(hours=2)) == Transition(
        BookingStatus.COMPLETED, "booking.completed")
    assert paid_booking().cancel("operator", at(MONDAY, 13)) == Transition(
        BookingStatus.CANCELLED, "booking.cancelled", 210_000)


@pytest.mark.parametrize("status", [BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED,
                                    BookingStatus.CANCELLED])
def test_only_an_expired_hold_retakes_its_slot(status):
    with pytest.raises(InvalidTransition):
        placed(status=status).retake_slot()


LIMITED = Rules(timezone="Europe/Moscow", max_holds_per_phone=3, max_holds_per_email=3,
                max_holds_per_ip=10)


def test_unpaid_holds_below_every_limit_pass():
    check_unpaid_holds({"phone": 2, "email": 2, "ip": 9}, LIMITED)


def test_the_holds_at_a_limit_refuse_one_more_naming_what_is_over():
    with pytest.raises(TooManyHolds) as refused:
        check_unpaid_holds({"phone": 3, "email": 0, "ip": 10}, LIMITED)
    assert refused.value.details == {"limit": 3, "by": ["phone", "ip"]}
    assert "phone number and network address" in refused.value.message


def test_a_limit_of_zero_means_no_limit():
    check_unpaid_holds({"phone": 500, "email": 500, "ip": 500},
                       Rules(timezone="Europe/Moscow", max_holds_per_phone=0,
                             max_holds_per_email=0, max_holds_per_ip=0))


@pytest.mark.parametrize("raw, words", [
    ({}, "a tariff needs hourly_price"),
    ([], "a tariff must be an object"),
    ({"hourly_price": 100000, "rules": {"3": []}}, "tariff rules must be a list"),
    ({"hourly_price": 100000, "rules": [{"weekdays": ["sat"], "start": "10:00",
                                         "hourly_price": 150000}]}, "a tariff rule needs end"),
    ({"hourly_price": 100000, "rules": [{"weekdays": "sat", "start": "10:00", "end": "12:00",
                                         "hourly_price": 150000}]},
     "tariff rule weekdays must be a list"),
])
def test_a_tariff_sent_wrong_says_what_is_wrong(raw, words):
    with pytest.raises(ValueError) as refused:
        Tariff.from_dict(raw)
    assert words in str(refused.value)
