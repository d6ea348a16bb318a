"""Properties of the calendar and of pricing, over generated halls, tariffs, bookings and clocks.

The studio's zone is drawn from a fixed-offset zone (Moscow, Kolkata) and two with DST
(Berlin, New York), and the first day of the range is often a DST change day.
"""

from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from services.booking.domain import (
    Hall,
    OpeningHours,
    Rules,
    Tariff,
    TariffRule,
    busy_range,
    check_booking_request,
    free_slots,
    is_on_grid,
    prepayment_for,
    price_slots,
    quote,
)
from tests.properties import property_settings

FIXED_OFFSET_ZONES = ("Europe/Moscow", "Asia/Kolkata")
DST_ZONES = ("Europe/Berlin", "America/New_York")
DST_CHANGE_DAYS = (date(2025, 3, 9), date(2025, 3, 30), date(2025, 10, 26), date(2025, 11, 2))

UTC = ZoneInfo("UTC")
PROPERTY = property_settings(
    120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def clock(minute_of_day):
    return time(minute_of_day // 60 % 24, minute_of_day % 60)


def minutes_between(earliest, latest):
    """A minute of the day, more often on the quarter hour than not."""
    return st.one_of(
        st.integers(-(-earliest // 15), latest // 15).map(lambda quarter: quarter * 15),
        st.integers(earliest, latest),
    )


@st.composite
def day_hours(draw):
    if draw(st.integers(0, 6)) == 0:
        return None
    opens = draw(minutes_between(0, 1439))
    closes = draw(minutes_between(opens + 1, 1440))
    return clock(opens), clock(closes)


opening_hours = st.lists(day_hours(), min_size=7, max_size=7).map(lambda days: OpeningHours(tuple(days)))


@st.composite
def tariff_rules(draw):
    start = draw(minutes_between(0, 1439))
    end = draw(minutes_between(start + 1, 1440))
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return TariffRule(weekdays, clock(start), clock(end), draw(st.integers(0, 2_000_000)))


tariffs = st.builds(Tariff, hourly_price=st.integers(0, 2_000_000),
                    rules=st.lists(tariff_rules(), max_size=4).map(tuple))

halls = st.builds(Hall, id=st.just(1), name=st.just("Loft"), description=st.just(""),
                  capacity=st.just(8), buffer_minutes=st.integers(0, 90), active=st.just(True),
                  tariff=tariffs, opening_hours=st.one_of(st.none(), opening_hours))


@st.composite
def studio_rules(draw, zones):
    slot = draw(st.sampled_from((15, 15, 15, 5, 10, 30, 60)))
    shortest = slot * draw(st.integers(1, 8))
    return Rules(
        timezone=draw(st.sampled_from(zones)),
        slot_minutes=slot,
        min_duration_minutes=shortest,
        max_duration_minutes=shortest + slot * draw(st.integers(0, 48)),
        horizon_days=draw(st.integers(1, 200)),
        min_notice_minutes=draw(st.integers(0, 24 * 60)),
        prepayment_percent=draw(st.integers(0, 100)),
        opening_hours=draw(opening_hours),
    )


@st.composite
def calendars(draw, zones=FIXED_OFFSET_ZONES + DST_ZONES):
    """(hall, rules, bookings, date_from, date_to, now) in the studio's zone."""
    rules = draw(studio_rules(zones))
    tz = rules.tz
    date_from = draw(st.one_of(st.sampled_from(DST_CHANGE_DAYS),
                               st.dates(date(2024, 1, 1), date(2026, 12, 31))))
    date_to = date_from + timedelta(days=draw(st.integers(0, 4)))
    now = (utc(datetime.combine(date_from, time(0), tzinfo=tz))
           + timedelta(minutes=draw(st.integers(-2 * 1440, 2 * 1440)),
                       seconds=draw(st.integers(0, 59)))).astimezone(tz)
    first = utc(datetime.combine(date_from - timedelta(days=1), time(0), tzinfo=tz))
    span_minutes = ((date_to - date_from).days + 3) * 1440
    bookings = []
    for _ in range(draw(st.integers(0, 12))):
        start = first + timedelta(minutes=draw(minutes_between(0, span_minutes)))
        end = start + timedelta(minutes=draw(minutes_between(15, 600)))
        bookings.append((start.astimezone(tz), end.astimezone(tz)))
    return draw(halls), rules, bookings, date_from, date_to, now


def utc(moment):
    """Aware datetimes sharing a tzinfo compare and subtract by wall clock; instants do not."""
    return moment.astimezone(UTC)


def wall_minutes(day, moment):
    return (moment.replace(tzinfo=None, fold=0) - datetime.combine(day, time(0))) / timedelta(minutes=1)


def expected_slot_price(tariff, weekday, minute_of_day, slot_minutes):
    """The tariff, read again from its definition: the last matching rule, else the base."""
    rate = tariff.hourly_price
    for rule in tariff.rules:
        start = rule.start.hour * 60 + rule.start.minute
        end = rule.end.hour * 60 + rule.end.minute or 1440
        if weekday in rule.weekdays and start <= minute_of_day < end:
            rate = rule.hourly_price
    exact = Fraction(rate * slot_minutes, 60)
    return int(exact + Fraction(1, 2))  # half up, exact


def all_slots(days):
    return [slot for day in days for slot in day.slots]


def runs_of_consecutive_slots(day):
    runs, run = [], []
    for slot in day.slots:
        if run and utc(run[-1].end) != utc(slot.start):
            runs.append(run)
            run = []
        run.append(slot)
    if run:
        runs.append(run)
    return runs


@PROPERTY
@given(calendars())
def test_no_free_slot_touches_a_booking_or_its_buffer(calendar):
    hall, rules, bookings, date_from, date_to, now = calendar
    buffer = timedelta(minutes=hall.buffer_minutes)
    for slot in all_slots(free_slots(*calendar)):
        for start, end in bookings:
            assert utc(slot.end) <= utc(start) - buffer or utc(slot.start) >= utc(end) + buffer


@PROPERTY
@given(calendars(), calendars())
def test_no_free_slot_runs_into_a_closure_and_closures_only_take_slots_away(calendar, other):
    """Closures drawn like bookings: a free slot, with its buffer, ends before each closure or
    starts after it, and every slot left was free without the closures too."""
    hall, rules, bookings, date_from, date_to, now = calendar
    closures = other[2]
    buffer = timedelta(minutes=hall.buffer_minutes)
    closed = all_slots(free_slots(*calendar, closures=closures))
    for slot in closed:
        for start, end in closures:
            assert utc(slot.end) + buffer <= utc(start) or utc(slot.start) >= utc(end)
    assert set(closed) <= set(all_slots(free_slots(*calendar)))


@PROPERTY
@given(calendars())
def test_free_slots_lie_on_the_grid_within_the_days_opening_hours_notice_and_horizon(calendar):
    hall, rules, bookings, date_from, date_to, now = calendar
    days = free_slots(*calendar)
    assert [day.date for day in days] == [date_from + timedelta(days=n)
                                          for n in range((date_to - date_from).days + 1)]
    previous_end = None
    for day in days:
        hours = hall.hours(rules).minutes(day.date.weekday())
        assert hours is not None or day.slots == []
        for slot in day.slots:
            assert slot.start.tzinfo is rules.tz and slot.end.tzinfo is rules.tz
            assert slot.start.date() == day.date
            assert is_on_grid(slot.start, rules) and is_on_grid(slot.end, rules)
            assert utc(slot.end) - utc(slot.start) == timedelta(minutes=rules.slot_minutes)
            assert hours[0] <= wall_minutes(day.date, slot.start)
            assert wall_minutes(day.date, slot.end) <= hours[1]
            assert utc(now) + timedelta(minutes=rules.min_notice_minutes) <= utc(slot.start)
            assert utc(slot.start) <= utc(now) + timedelta(days=rules.horizon_days)
            assert previous_end is None or previous_end <= utc(slot.start)
            previous_end = utc(slot.end)


@PROPERTY
@given(calendars())
def test_each_free_slot_costs_the_tariff_rate_of_its_local_start(calendar):
    hall, rules, *_ = calendar
    for slot in all_slots(free_slots(*calendar)):
        local = slot.start.astimezone(rules.tz)
        assert slot.price == expected_slot_price(hall.tariff, local.weekday(),
                                                 local.hour * 60 + local.minute, rules.slot_minutes)


@PROPERTY
@given(calendars(zones=FIXED_OFFSET_ZONES))
def test_free_slots_are_exactly_the_slots_a_brute_force_search_finds(calendar):
    """Where the wall clock never jumps, every quarter hour is judged one by one."""
    hall, rules, bookings, date_from, date_to, now = calendar
    tz, step = rules.tz, timedelta(minutes=rules.slot_minutes)
    buffer = timedelta(minutes=hall.buffer_minutes)
    expected = []
    for n in range((date_to - date_from).days + 1):
        day = date_from + timedelta(days=n)
        hours = hall.hours(rules).minutes(day.weekday())
        for minute in range(0, 1440, rules.slot_minutes):
            start = datetime.combine(day, clock(minute), tzinfo=tz)
            end = start + step
            if (hours is None or minute < hours[0] or minute + rules.slot_minutes > hours[1]
                    or start < now + timedelta(minutes=rules.min_notice_minutes)
                    or start > now + timedelta(days=rules.horizon_days)
                    or any(end > b_start - buffer and start < b_end + buffer
                           for b_start, b_end in bookings)):
                continue
            price = expected_slot_price(hall.tariff, day.weekday(), minute, rules.slot_minutes)
            expected.append((start, end, price))
    assert [tuple(slot) for slot in all_slots(free_slots(*calendar))] == expected


@PROPERTY
@given(calendars(), st.data())
def test_a_booking_of_consecutive_free_slots_passes_the_rules_and_the_exclusion_constraint(calendar, data):
    hall, rules, bookings, date_from, date_to, now = calendar
    shortest = rules.min_duration_minutes // rules.slot_minutes
    longest = rules.max_duration_minutes // rules.slot_minutes
    runs = [run for day in free_slots(*calendar) for run in runs_of_consecutive_slots(day)
            if len(run) >= shortest]
    if not runs:
        return
    run = data.draw(st.sampled_from(runs))
    count = data.draw(st.integers(shortest, min(longest, len(run))))
    first = data.draw(st.integers(0, len(run) - count))
    chosen = run[first:first + count]
    start, end = chosen[0].start, chosen[-1].end

    check_booking_request(hall, rules, start, end, now)

    new_start, new_end = map(utc, busy_range(start, end, hall.buffer_minutes))
    for b_start, b_end in bookings:
        taken_start, taken_end = map(utc, busy_range(b_start, b_end, hall.buffer_minutes))
        assert new_end <= taken_start or new_start >= taken_end

    price = quote(hall, rules, start, end)
    assert price.price_total == sum(slot.price for slot in chosen)

    def instants(slots):
        return [(utc(slot.start), utc(slot.end), slot.price) for slot in slots]

    assert instants(price_slots(hall, rules, start, end)) == instants(chosen)


@PROPERTY
@given(calendars(), st.integers(0, 200), st.integers(1, 60))
def test_a_quote_is_the_sum_of_its_slot_prices(calendar, quarter, count):
    hall, rules, bookings, date_from, date_to, now = calendar
    midnight = datetime.combine(date_from, time(0), tzinfo=rules.tz)
    start = (utc(midnight) + timedelta(minutes=quarter * rules.slot_minutes)).astimezone(rules.tz)
    if not is_on_grid(start, rules):  # a DST change that moved the grid
        return
    end = (utc(start) + timedelta(minutes=count * rules.slot_minutes)).astimezone(rules.tz)
    slots = price_slots(hall, rules, start, end)
    price = quote(hall, rules, start, end)
    assert len(slots) == count
    assert price.price_total == sum(slot.price for slot in slots)
    for slot in slots:
        local = slot.start
        assert slot.price == expected_slot_price(hall.tariff, local.weekday(),
                                                 local.hour * 60 + local.minute, rules.slot_minutes)
    assert 0 <= price.prepayment_amount <= price.price_total
    assert price.prepayment_amount % 100 == 0 or price.prepayment_amount == price.price_total


@PROPERTY
@given(st.integers(0, 10**10), st.integers(0, 100))
def test_prepayment_is_the_least_whole_ruble_amount_covering_the_share_capped_at_the_price(price, percent):
    prepayment = prepayment_for(price, percent)
    share = Fraction(price * percent, 100)
    assert 0 <= prepayment <= price
    assert prepayment % 100 == 0 or prepayment == price
    assert prepayment >= share or prepayment == price
    assert prepayment - share < 100


@pytest.mark.parametrize("zone", DST_ZONES)
def test_a_dst_change_day_open_around_the_clock_has_its_real_number_of_slots(zone):
    rules = Rules.from_config({"opening_hours": {"default": ["00:00", "24:00"]},
                               "min_notice_minutes": 0, "horizon_days": 365}, zone)
    hall = Hall(1, "Loft", "", 8, 0, True, Tariff(100_000), None)
    spring, autumn = (date(2025, 3, 30), date(2025, 10, 26)) if zone == "Europe/Berlin" else \
        (date(2025, 3, 9), date(2025, 11, 2))
    now = datetime(2025, 1, 1, tzinfo=rules.tz)
    [short_day] = free_slots(hall, rules, [], spring, spring, now)
    [long_day] = free_slots(hall, rules, [], autumn, autumn, now)
    assert len(short_day.slots) == 23 * 4
    assert len(long_day.slots) == 25 * 4
