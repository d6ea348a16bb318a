"""The calendar's own cost, no services: a hall's month with 100 bookings, computed in-process.

    python -m bench.calendar

Prints the best of 20 runs in ms (it was the unit test's `< 5 ms` until timing left the unit
tests: a timed test fails on a busy machine and proves nothing on an idle one).
"""
import json
import timeit
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.booking.domain import Hall, Rules, Tariff, TariffRule, free_slots

MSK = ZoneInfo("Europe/Moscow")


def at(day, hour, minute=0, days=0):
    return datetime.combine(day + timedelta(days=days), time(hour, minute), tzinfo=MSK)


def month_with_100_bookings():
    """free_slots' arguments: a July with 100 two-hour bookings and an evening tariff."""
    tariff = Tariff(hourly_price=300_000, rules=(
        TariffRule(frozenset(range(5)), time(18), time(0), 400_000),
        TariffRule(frozenset({5, 6}), time(0), time(0), 500_000)))
    hall = Hall(id=7, name="White cyclorama", description="", capacity=10, buffer_minutes=15,
                active=True, tariff=tariff, opening_hours=None)
    first = date(2025, 7, 1)
    bookings = [(at(first, 9 + 4 * (n % 3), 15 * (n % 4), days=n // 3),
                 at(first, 11 + 4 * (n % 3), 15 * (n % 4), days=n // 3)) for n in range(100)]
    bookings.reverse()
    return (hall, Rules.from_config({}, "Europe/Moscow"), bookings, first, date(2025, 7, 31),
            at(first, 0, days=-1))


def measure(repeat=20):
    args = month_with_100_bookings()
    best = min(timeit.repeat(lambda: free_slots(*args), number=1, repeat=repeat))
    return {"month_100_bookings_best_ms": round(best * 1000, 2)}


if __name__ == "__main__":
    print(json.dumps(measure()))
