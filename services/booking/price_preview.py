"""A tariff's prices over a week, before it is saved: for the halls editor. Pure."""
from services.booking.domain import OpeningHours, Tariff


def price_week(tariff: Tariff, hours: OpeningHours, slot_minutes: int):
    """Per weekday (0 = Monday): its opening hours and the runs of slots that share an hourly
    price, as [{start, end, hourly_price}] in local "HH:MM"."""
    week = []
    for weekday in range(7):
        opening = hours.minutes(weekday)
        runs = []
        if opening is not None:
            for minute in range(opening[0], opening[1], slot_minutes):
                rate = tariff.hourly_rate(weekday, minute)
                if runs and runs[-1]["hourly_price"] == rate:
                    runs[-1]["end"] = _clock(minute + slot_minutes)
                else:
                    runs.append({"start": _clock(minute), "end": _clock(minute + slot_minutes),
                                 "hourly_price": rate})
        week.append({"weekday": weekday, "open": opening is not None, "prices": runs})
    return week


def _clock(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes < 24 * 60 else "24:00"
