"""The booking domain: halls, tariffs, the calendar, pricing and the life of a booking.

Plain Python with no framework, database or clock: whatever needs "now" is given it.
Money is an int of kopecks. Times are aware datetimes, and arithmetic on them is done in
UTC, because Python adds a timedelta to an aware datetime on the wall clock and compares two
datetimes sharing a tzinfo by their wall clocks, both wrong across a DST change. The studio's
time zone decides everything that is "local": opening hours, weekdays, tariffs and the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from datetime import timezone as _timezone
from typing import Iterable, NamedTuple
from zoneinfo import ZoneInfo

from contracts.errors.booking import (
    BookingCancelled,
    BookingRuleViolation,
    HallInactive,
    InvalidTransition,
    RescheduleLimitReached,
    RescheduleTooLate,
    TooManyHolds,
)

__all__ = [
    "ACTIVE_STATUSES",
    "Booking",
    "BookingStatus",
    "Day",
    "Hall",
    "OpeningHours",
    "Quote",
    "Rules",
    "Slot",
    "Tariff",
    "TariffRule",
    "Transition",
    "WEEKDAYS",
    "busy_range",
    "check_booking_request",
    "check_date_range",
    "day_minutes",
    "special_hours",
    "check_unpaid_holds",
    "free_slots",
    "is_on_grid",
    "prepayment_for",
    "price_slots",
    "quote",
    "slot_price",
]

UTC = _timezone.utc
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_MINUTE = 60 * 1_000_000


# --- small checks shared by everything below -------------------------------------------

def _require_aware(value, name):
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _utc(value, name="datetime"):
    return _require_aware(value, name).astimezone(UTC)


def _epoch_us(value):
    return (value - _EPOCH) // _MICROSECOND


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _require_count(value, name, minimum=0):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _duration_text(minutes):
    hours, rest = divmod(int(minutes), 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour" + ("s" if hours != 1 else ""))
    if rest or not hours:
        parts.append(f"{rest} minute" + ("s" if rest != 1 else ""))
    return " ".join(parts)


# --- clock times: "HH:MM", with "24:00" (or time(0) as an end) meaning midnight at day's end

_REQUIRED = object()


def _member(raw, name, what, default=_REQUIRED):
    """raw[name] of a stored or sent mapping, with an error that says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"a {what} must be an object, got {raw!r}")
    if name not in raw:
        if default is _REQUIRED:
            raise ValueError(f"a {what} needs {name}")
        return default
    return raw[name]


def _parse_clock(value, name, *, is_end=False):
    if isinstance(value, time):
        clock = value
    elif isinstance(value, str):
        try:
            hours_text, minutes_text = value.strip().split(":")
            hours, minutes = int(hours_text), int(minutes_text)
        except ValueError:
            raise ValueError(f"{name}: expected 'HH:MM', got {value!r}") from None
        if is_end and (hours, minutes) == (24, 0):
            return time(0)
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError(f"{name}: {value!r} is not a time of day")
        clock = time(hours, minutes)
    else:
        raise ValueError(f"{name}: expected 'HH:MM', got {value!r}")
    if clock.second or clock.microsecond or clock.tzinfo is not None:
        raise ValueError(f"{name}: expected a whole minute without a time zone, got {clock!r}")
    return clock


def _start_minute(clock):
    return clock.hour * 60 + clock.minute


def _end_minute(clock):
    """Minutes since midnight of an end time; midnight as an end is the day's end (24:00)."""
    return _start_minute(clock) or MINUTES_PER_DAY


def _clock_text(clock, *, is_end=False):
    if is_end and clock == time(0):
        return "24:00"
    return f"{clock.hour:02d}:{clock.minute:02d}"


def _minutes_text(minute_of_day):
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def _weekday_number(value, name):
    if isinstance(value, str) and value.lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(value.lower()[:3])
    if _is_int(value) and 0 <= value <= 6:
        return value
    raise ValueError(f"{name}: a weekday is 0 (Monday) .. 6 (Sunday) or mon..sun, got {value!r}")


# --- opening hours ----------------------------------------------------------------------

@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday .. 6 = Sunday) an (open, close) pair of local times, or None
    when closed. A close of time(0) means midnight at the end of the day."""

    days: tuple[tuple[time, time] | None, ...]

    def __post_init__(self):
        days = tuple(self.days)
        if len(days) != 7:
            raise ValueError(f"opening hours need 7 weekdays, got {len(days)}")
        checked = []
        for number, day in enumerate(days):
            if day is None:
                checked.append(None)
                continue
            opens, closes = day
            name = WEEKDAYS[number]
            opens = _parse_clock(opens, f"opening_hours.{name}")
            closes = _parse_clock(closes, f"opening_hours.{name}", is_end=True)
            if _start_minute(opens) >= _end_minute(closes):
                raise ValueError(f"opening_hours.{name}: opens at {_clock_text(opens)} but "
                                 f"closes at {_clock_text(closes, is_end=True)}")
            checked.append((opens, closes))
        object.__setattr__(self, "days", tuple(checked))
        # minutes since local midnight, looked up for every day of the calendar
        object.__setattr__(self, "_minutes", tuple(
            None if day is None else (_start_minute(day[0]), _end_minute(day[1]))
            for day in checked))

    @classmethod
    def every_day(cls, opens, closes):
        return cls(((opens, closes),) * 7)

    @classmethod
    def parse(cls, raw: dict, fallback: OpeningHours | None = None) -> OpeningHours:
        """From `{"default": ["09:00", "22:00"], "sat": ["10:00", "20:00"], "sun": None}`.

        A weekday not named takes "default"; without "default" it takes the `fallback`
        OpeningHours' day, or is closed when there is no fallback.
        """
        if isinstance(raw, OpeningHours):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"opening_hours must be a mapping, got {raw!r}")
        unknown = set(raw) - {"default", *WEEKDAYS}
        if unknown:
            raise ValueError(f"opening_hours: unknown keys {sorted(unknown)}; "
                             f"use 'default' and {', '.join(WEEKDAYS)}")
        if "default" in raw:
            days = [cls._parse_day(raw["default"], "default")] * 7
        elif fallback is not None:
            days = list(fallback.days)
        else:
            days = [None] * 7
        for number, name in enumerate(WEEKDAYS):
            if name in raw:
                days[number] = cls._parse_day(raw[name], name)
        return cls(tuple(days))

    @staticmethod
    def _parse_day(value, name):
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"opening_hours.{name}: expected [open, close] or null, got {value!r}")
        return (_parse_clock(value[0], f"opening_hours.{name}"),
                _parse_clock(value[1], f"opening_hours.{name}", is_end=True))

    def to_dict(self):
        return {name: None if day is None else [_clock_text(day[0]), _clock_text(day[1], is_end=True)]
                for name, day in zip(WEEKDAYS, self.days)}

    def minutes(self, weekday: int) -> tuple[int, int] | None:
        """(open, close) of that weekday in minutes since local midnight (close <= 1440), or None."""
        return self._minutes[weekday]


DEFAULT_OPENING_HOURS = OpeningHours.every_day(time(9), time(22))


def special_hours(value, name="hours") -> tuple[int, int] | None:
    """A special day's hours (a short day before a holiday): ["HH:MM", "HH:MM"] ("24:00" may
    close it) as (open, close) minutes since local midnight, or None: closed all day."""
    day = OpeningHours._parse_day(value, name)
    if day is None:
        return None
    opens, closes = _start_minute(day[0]), _end_minute(day[1])
    if opens >= closes:
        raise ValueError(f"{name}: opens at {_minutes_text(opens)} but closes at "
                         f"{_minutes_text(closes)}")
    return opens, closes


def day_minutes(hours: OpeningHours, day: date,
                special_days: dict | None = None) -> tuple[int, int] | None:
    """(open, close) of a local day in minutes since midnight, or None when closed. A special
    day (date -> special_hours) wins over the week's hours."""
    if special_days and day in special_days:
        return special_days[day]
    return hours.minutes(day.weekday())


# --- the studio's rules -----------------------------------------------------------------

_RULE_MINIMUMS = {
    "slot_minutes": 1,
    "min_duration_minutes": 1,
    "max_duration_minutes": 1,
    "horizon_days": 1,
    "min_notice_minutes": 0,
    "hold_minutes": 1,
    "prepayment_percent": 0,
    "full_refund_hours": 0,
    "max_range_days": 1,
    "max_holds_per_phone": 0,
    "max_holds_per_email": 0,
    "max_holds_per_ip": 0,
    "idempotency_key_hours": 1,
    "max_reschedules": 0,
}


@dataclass(frozen=True)
class Rules:
    """The booking rules a studio sets in config.yaml."""

    timezone: str
    slot_minutes: int = 15
    min_duration_minutes: int = 60
    max_duration_minutes: int = 720
    horizon_days: int = 180
    min_notice_minutes: int = 60
    hold_minutes: int = 15
    prepayment_percent: int = 30
    full_refund_hours: int = 24
    max_range_days: int = 62
    # unpaid holds running at once per customer phone, e-mail and client address (0: no limit)
    max_holds_per_phone: int = 3
    max_holds_per_email: int = 3
    max_holds_per_ip: int = 10
    idempotency_key_hours: int = 24   # a request id answers its repeats this long
    max_reschedules: int = 2          # moves a customer may make of one booking (0: none)
    opening_hours: OpeningHours = DEFAULT_OPENING_HOURS
    currency: str = "RUB"

    def __post_init__(self):
        ZoneInfo(self.timezone)  # an unknown zone fails here, not on the first booking
        for name, minimum in _RULE_MINIMUMS.items():
            _require_count(getattr(self, name), name, minimum)
        if 60 % self.slot_minutes:
            raise ValueError(f"slot_minutes must divide an hour, got {self.slot_minutes}")
        if self.max_duration_minutes < self.min_duration_minutes:
            raise ValueError("max_duration_minutes is below min_duration_minutes")
        if self.prepayment_percent > 100:
            raise ValueError(f"prepayment_percent is over 100: {self.prepayment_percent}")
        if not isinstance(self.opening_hours, OpeningHours):
            raise ValueError("opening_hours must be OpeningHours; use Rules.from_config for a dict")
        if not isinstance(self.currency, str) or not self.currency:
            raise ValueError(f"currency must be a code like 'RUB', got {self.currency!r}")

    @classmethod
    def from_config(cls, cfg: dict | None, timezone: str) -> Rules:
        """From the booking section of config.yaml; keys not named here are ignored."""
        cfg = cfg or {}
        values = {name: cfg[name] for name in _RULE_MINIMUMS if cfg.get(name) is not None}
        if cfg.get("opening_hours") is not None:
            values["opening_hours"] = OpeningHours.parse(cfg["opening_hours"],
                                                         fallback=DEFAULT_OPENING_HOURS)
        if cfg.get("currency") is not None:
            values["currency"] = cfg["currency"]
        return cls(timezone=timezone, **values)

    @property
    def hold_limits(self) -> dict:
        """Unpaid holds allowed at once per phone, e-mail and client address (0: no limit)."""
        return {"phone": self.max_holds_per_phone, "email": self.max_holds_per_email,
                "ip": self.max_holds_per_ip}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances by key


# --- tariffs and prices -----------------------------------------------------------------

def slot_price(hourly_price: int, slot_minutes: int) -> int:
    """The price of one slot: the hourly price pro rata, half a kopeck rounded up."""
    return (2 * hourly_price * slot_minutes + 60) // 120


def prepayment_for(price_total: int, prepayment_percent: int) -> int:
    """The share of the price due up front, rounded up to a whole ruble, never above the price."""
    kopecks = -(-price_total * prepayment_percent // 100)
    whole_rubles = -(-kopecks // 100) * 100
    return min(whole_rubles, price_total)


@dataclass(frozen=True)
class TariffRule:
    """A different hourly price on some weekdays from `start` (inclusive) to `end` (exclusive),
    local time; an `end` of time(0) is midnight at the day's end."""

    weekdays: frozenset[int]
    start: time
    end: time
    hourly_price: int

    def __post_init__(self):
        weekdays = frozenset(_weekday_number(day, "tariff rule weekdays") for day in self.weekdays)
        if not weekdays:
            raise ValueError("a tariff rule needs at least one weekday")
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "start", _parse_clock(self.start, "tariff rule start"))
        object.__setattr__(self, "end", _parse_clock(self.end, "tariff rule end", is_end=True))
        _require_count(self.hourly_price, "tariff rule hourly_price")
        if _start_minute(self.start) >= _end_minute(self.end):
            raise ValueError(f"tariff rule starts at {_clock_text(self.start)} but ends at "
                             f"{_clock_text(self.end, is_end=True)}")

    def matches(self, weekday, minute_of_day):
        return (weekday in self.weekdays
                and _start_minute(self.start) <= minute_of_day < _end_minute(self.end))

    @classmethod
    def from_dict(cls, raw):
        weekdays = _member(raw, "weekdays", "tariff rule")
        if not isinstance(weekdays, (list, tuple, set, frozenset)):
            raise ValueError(f"tariff rule weekdays must be a list, got {weekdays!r}")
        return cls(weekdays=frozenset(weekdays), start=_member(raw, "start", "tariff rule"),
                   end=_member(raw, "end", "tariff rule"),
                   hourly_price=_member(raw, "hourly_price", "tariff rule"))

    def to_dict(self):
        return {"weekdays": sorted(self.weekdays), "start": _clock_text(self.start),
                "end": _clock_text(self.end, is_end=True), "hourly_price": self.hourly_price}


@dataclass(frozen=True)
class Tariff:
    """A hall's base hourly price and the rules that change it; the last matching rule wins."""

    hourly_price: int
    rules: tuple[TariffRule, ...] = ()
    currency: str = "RUB"

    def __post_init__(self):
        _require_count(self.hourly_price, "hourly_price")
        rules = tuple(rule if isinstance(rule, TariffRule) else TariffRule.from_dict(rule)
                      for rule in self.rules)
        object.__setattr__(self, "rules", rules)
        if not isinstance(self.currency, str) or not self.currency:
            raise ValueError(f"currency must be a code like 'RUB', got {self.currency!r}")

    def hourly_rate(self, weekday: int, minute_of_day: int) -> int:
        """The hourly price of a slot starting at that local weekday and minute of the day."""
        for rule in reversed(self.rules):
            if rule.matches(weekday, minute_of_day):
                return rule.hourly_price
        return self.hourly_price

    def slot_price(self, weekday: int, minute_of_day: int, slot_minutes: int) -> int:
        return slot_price(self.hourly_rate(weekday, minute_of_day), slot_minutes)

    @classmethod
    def from_dict(cls, raw):
        rules = _member(raw, "rules", "tariff", default=None) or ()
        if not isinstance(rules, (list, tuple)):
            raise ValueError(f"tariff rules must be a list, got {rules!r}")
        return cls(hourly_price=_member(raw, "hourly_price", "tariff"),
                   rules=tuple(TariffRule.from_dict(rule) for rule in rules),
                   currency=_member(raw, "currency", "tariff", default=None) or "RUB")

    def to_dict(self):
        return {"hourly_price": self.hourly_price, "currency": self.currency,
                "rules": [rule.to_dict() for rule in self.rules]}


# --- halls ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hall:
    id: object
    name: str
    description: str
    capacity: int
    buffer_minutes: int
    active: bool
    tariff: Tariff
    opening_hours: OpeningHours | None = None  # None: the studio's hours

    def __post_init__(self):
        _require_count(self.buffer_minutes, "buffer_minutes")
        if not isinstance(self.tariff, Tariff):
            raise ValueError("tariff must be a Tariff; use Tariff.from_dict for stored JSON")
        if self.opening_hours is not None and not isinstance(self.opening_hours, OpeningHours):
            raise ValueError("opening_hours must be OpeningHours or None; use OpeningHours.parse")

    def hours(self, rules: Rules) -> OpeningHours:
        return self.opening_hours or rules.opening_hours


# --- the grid, prices and the rules of a booking request ---------------------------------

class Slot(NamedTuple):
    start: datetime
    end: datetime
    price: int


class Day(NamedTuple):
    date: date
    slots: list[Slot]


@dataclass(frozen=True)
class Quote:
    price_total: int
    prepayment_amount: int
    currency: str


def is_on_grid(moment: datetime, rules: Rules) -> bool:
    """Whether the local wall clock shows a whole slot boundary (10:00, 10:15, ...)."""
    local = _require_aware(moment, "moment").astimezone(rules.tz)
    return local.second == 0 and local.microsecond == 0 and local.minute % rules.slot_minutes == 0


def _add(problems, name, message):
    problems.setdefault(name, []).append(message)


def _shape_problems(rules, start, end):
    problems = {}
    grid = f"must be on the {rules.slot_minutes}-minute grid (e.g. 10:00, 10:{rules.slot_minutes:02d})"
    if not is_on_grid(start, rules):
        _add(problems, "start", grid)
    if not is_on_grid(end, rules):
        _add(problems, "end", grid)
    if _utc(end) <= _utc(start):
        _add(problems, "end", "must be after start")
    return problems


def price_slots(hall: Hall, rules: Rules, start: datetime, end: datetime) -> list[Slot]:
    """The slots of [start, end) with the price of each, in the studio's time zone.

    Raises BookingRuleViolation when start or end is off the grid or end is not after start.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    problems = _shape_problems(rules, start, end)
    if problems:
        raise BookingRuleViolation("the booking's time cannot be priced", problems)
    tz, step = rules.tz, timedelta(minutes=rules.slot_minutes)
    cursor, stop = _utc(start), _utc(end)
    slots = []
    while cursor < stop:
        following = cursor + step
        local = cursor.astimezone(tz)
        price = hall.tariff.slot_price(local.weekday(), local.hour * 60 + local.minute,
                                       rules.slot_minutes)
        slots.append(Slot(local, following.astimezone(tz), price))
        cursor = following
    return slots


def quote(hall: Hall, rules: Rules, start: datetime, end: datetime) -> Quote:
    """The price of [start, end) (slot by slot, so a rate change mid-booking is exact) and its
    prepayment."""
    total = sum(slot.price for slot in price_slots(hall, rules, start, end))
    return Quote(total, prepayment_for(total, rules.prepayment_percent), hall.tariff.currency)


def _wall_minutes_since_midnight(day, local):
    return (local.replace(tzinfo=None, fold=0) - datetime.combine(day, time(0))) / timedelta(minutes=1)


def check_booking_request(hall: Hall, rules: Rules, start: datetime, end: datetime,
                          now: datetime, special_days: dict | None = None) -> None:
    """Raise HallInactive, or BookingRuleViolation naming every broken rule by field, or
    return None when [start, end) may be booked as far as the rules go (not whether it is
    free, or closed by a block: the database decides that). `special_days` (date ->
    special_hours) are the studio's days with hours of their own."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    _require_aware(now, "now")
    if not hall.active:
        raise HallInactive(f"hall {hall.id} is not taking bookings", {"hall_id": str(hall.id)})
    start_utc, end_utc, now_utc = _utc(start), _utc(end), _utc(now)
    problems = _shape_problems(rules, start, end)

    if end_utc > start_utc:
        duration = end_utc - start_utc
        if duration < timedelta(minutes=rules.min_duration_minutes):
            _add(problems, "end", "the booking must last at least "
                                  f"{_duration_text(rules.min_duration_minutes)}")
        elif duration > timedelta(minutes=rules.max_duration_minutes):
            _add(problems, "end", "the booking must last no more than "
                                  f"{_duration_text(rules.max_duration_minutes)}")

    local_start = start_utc.astimezone(rules.tz)
    day = local_start.date()
    special = bool(special_days) and day in special_days
    on_day = day.isoformat() if special else f"{day:%A}s"
    hours = day_minutes(hall.hours(rules), day, special_days)
    if hours is None:
        _add(problems, "start", f"the hall is closed on {day.isoformat()}" if special
             else f"the hall is closed on {day:%A}s ({day.isoformat()})")
    else:
        opens, closes = hours
        if _wall_minutes_since_midnight(day, local_start) < opens:
            _add(problems, "start", f"the hall opens at {_minutes_text(opens)} on {on_day}")
        local_end = end_utc.astimezone(rules.tz)
        if end_utc > start_utc and _wall_minutes_since_midnight(day, local_end) > closes:
            _add(problems, "end", f"the booking must end by {_minutes_text(closes)} on the day it "
                                  f"starts (the hall closes then on {on_day})")

    if start_utc < now_utc:
        _add(problems, "start", "is in the past")
    elif start_utc < now_utc + timedelta(minutes=rules.min_notice_minutes):
        _add(problems, "start", "must be at least "
                                f"{_duration_text(rules.min_notice_minutes)} from now")
    elif start_utc > now_utc + timedelta(days=rules.horizon_days):
        _add(problems, "start", f"must be no more than {rules.horizon_days} days ahead")

    if problems:
        raise BookingRuleViolation("the booking breaks the studio's rules", problems)


def busy_range(start: datetime, end: datetime, buffer_minutes: int) -> tuple[datetime, datetime]:
    """The range a booking keeps the hall busy: itself and the cleaning buffer after it. The
    database's exclusion constraint guards this range among active bookings of a hall."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    _require_count(buffer_minutes, "buffer_minutes")
    return start, (_utc(end) + timedelta(minutes=buffer_minutes)).astimezone(end.tzinfo)


# --- the calendar -----------------------------------------------------------------------

def _blocked_ranges(bookings, buffer_us, closures=()):
    """Active bookings as [start - buffer, end + buffer) and closures (blocks) as
    [start - buffer, end), merged and sorted, in epoch microseconds.

    The buffer goes before a booking or a closure: a new booking there would need its own
    trailing buffer, which would run into it. A closure has no cleaning of its own after it."""
    ranges = sorted([(_epoch_us(_require_aware(start, "booking start")) - buffer_us,
                      _epoch_us(_require_aware(end, "booking end")) + buffer_us)
                     for start, end in bookings]
                    + [(_epoch_us(_require_aware(start, "closure start")) - buffer_us,
                        _epoch_us(_require_aware(end, "closure end")))
                       for start, end in closures])
    merged = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


def _local_epoch_us(day, minute_of_day, tz, *, pick):
    """The instant the local wall clock shows that minute of that day (1440: the day's end).

    A wall time a DST change skips or repeats has two candidate instants; `pick` (min or max)
    chooses, so that opening takes the later one and closing the earlier one, and no slot
    strays outside the hours on the wall clock.
    """
    if minute_of_day == MINUTES_PER_DAY:
        day, minute_of_day = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=tz)
    return pick(_epoch_us(wall), _epoch_us(wall.replace(fold=1)))


def check_date_range(rules, date_from, date_to, names=("start_date", "end_date")):
    """Refuse an empty range of days or one longer than rules.max_range_days; `names` are
    the fields the caller calls them."""
    first, last = names
    for name, value in ((first, date_from), (last, date_to)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name} must be a date, got {type(value).__name__}")
    if date_to < date_from:
        raise BookingRuleViolation("the date range is empty",
                                   {last: [f"must not be before {first}"]})
    if (date_to - date_from).days + 1 > rules.max_range_days:
        raise BookingRuleViolation("the date range is too long", {
            last: [f"the range may cover at most {rules.max_range_days} days"]})


def free_slots(hall: Hall, rules: Rules, bookings: Iterable[tuple[datetime, datetime]],
               date_from: date, date_to: date, now: datetime,
               closures: Iterable[tuple[datetime, datetime]] = (),
               special_days: dict | None = None) -> list[Day]:
    """The free slots of a hall on each local day from date_from to date_to (inclusive).

    `bookings` are the (start, end) of the hall's active bookings, in any order; `closures`
    the (start, end) of its blocks; `special_days` (date -> special_hours) its days with
    hours of their own. A slot is free when it lies within the day's opening hours, starts
    no sooner than the minimum notice and no later than the horizon, keeps the hall's buffer
    from every booking, and leaves the buffer before a closure.
    """
    _require_aware(now, "now")
    check_date_range(rules, date_from, date_to)
    if not hall.active:
        raise HallInactive(f"hall {hall.id} is not taking bookings", {"hall_id": str(hall.id)})

    tz, slot_minutes = rules.tz, rules.slot_minutes
    slot_us = slot_minutes * _US_PER_MINUTE
    blocked = _blocked_ranges(bookings, hall.buffer_minutes * _US_PER_MINUTE, closures)
    now_us = _epoch_us(now)
    earliest = now_us + rules.min_notice_minutes * _US_PER_MINUTE
    latest = now_us + rules.horizon_days * MINUTES_PER_DAY * _US_PER_MINUTE
    hours = hall.hours(rules)
    prices = {}  # (weekday, minute of the day) -> slot price
    tariff = hall.tariff
    from_timestamp = datetime.fromtimestamp
    block, block_count = 0, len(blocked)

    days = []
    for offset in range((date_to - date_from).days + 1):
        day = date_from + timedelta(days=offset)
        weekday = day.weekday()
        slots = []
        days.append(Day(day, slots))
        bounds = day_minutes(hours, day, special_days)
        if bounds is None:
            continue
        opens, closes = bounds
        first = -(-opens // slot_minutes) * slot_minutes
        if first + slot_minutes > closes:
            continue
        at = _local_epoch_us(day, first, tz, pick=max)
        closing = _local_epoch_us(day, closes, tz, pick=min)
        if at < earliest:
            at += -(-(earliest - at) // slot_us) * slot_us
        previous_end_us, previous_end = None, None
        while at + slot_us <= closing and at <= latest:
            until = at + slot_us
            while block < block_count and blocked[block][1] <= at:
                block += 1
            if block < block_count and blocked[block][0] < until:
                at += -(-(blocked[block][1] - at) // slot_us) * slot_us
                continue
            start = previous_end if previous_end_us == at else from_timestamp(at // 1_000_000, tz)
            end = from_timestamp(until // 1_000_000, tz)
            minute = start.hour * 60 + start.minute
            price = prices.get((weekday, minute))
            if price is None:
                price = prices[weekday, minute] = tariff.slot_price(weekday, minute, slot_minutes)
            slots.append(Slot(start, end, price))
            previous_end_us, previous_end = until, end
            at = until
    return days


def check_unpaid_holds(counts: dict, rules: Rules) -> None:
    """Refuse one more unpaid hold to a phone, an e-mail or a client address that already
    runs as many as the studio allows: holds block slots for free, so one client must not
    hold the whole calendar. `counts` maps phone|email|ip to its holds still running."""
    limits = rules.hold_limits
    over = [kind for kind, limit in limits.items() if limit and counts.get(kind, 0) >= limit]
    if over:
        limit = min(limits[kind] for kind in over)
        raise TooManyHolds(
            f"There are {limit} unpaid bookings already for this "
            f"{' and '.join(_HOLDER_WORDS[kind] for kind in over)}: pay for one of them, or "
            f"wait until its hold runs out, then book again.",
            {"limit": limit, "by": over})


_HOLDER_WORDS = {"phone": "phone number", "email": "e-mail", "ip": "network address"}


# --- the booking and its life -----------------------------------------------------------

class BookingStatus:
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    COMPLETED = "completed"

    ALL = (PENDING_PAYMENT, CONFIRMED, CANCELLED, EXPIRED, COMPLETED)
    ACTIVE = frozenset({PENDING_PAYMENT, CONFIRMED})  # these hold their slot


ACTIVE_STATUSES = BookingStatus.ACTIVE
CANCELLERS = ("customer", "operator")


class Transition(NamedTuple):
    """What a move of a booking did: its status now and the event that announces it."""
    status: str
    event: str
    refund_due: int | None = None   # a cancellation's refund, kopecks


@dataclass
class Booking:
    id: object
    hall_id: object
    start: datetime
    end: datetime
    status: str
    price_total: int
    prepayment_amount: int
    amount_paid: int = 0
    currency: str = "RUB"
    hold_expires_at: datetime | None = None
    payment_ids: list[str] = field(default_factory=list)
    customer: dict = field(default_factory=dict)
    # payment id -> kopecks it paid beyond the price (two payments paid side by side); kept
    # out of amount_paid, to be refunded
    overpaid: dict = field(default_factory=dict)
    reschedules: int = 0    # how many times it was moved (customers have a limit)

    def __post_init__(self):
        _require_aware(self.start, "start")
        _require_aware(self.end, "end")
        if self.hold_expires_at is not None:
            _require_aware(self.hold_expires_at, "hold_expires_at")
        if self.status not in BookingStatus.ALL:
            raise ValueError(f"unknown booking status {self.status!r}")
        for name in ("price_total", "prepayment_amount", "amount_paid"):
            _require_count(getattr(self, name), name)
        self.payment_ids = list(self.payment_ids)
        self.overpaid = dict(self.overpaid or {})

    @classmethod
    def place(cls, id, hall: Hall, rules: Rules, start: datetime, end: datetime, now: datetime,
              customer: dict | None = None, special_days: dict | None = None,
              held_until_start: bool = False) -> Booking:
        """A new booking holding [start, end) unpaid until its hold expires (never after it
        starts): rules.hold_minutes, or until it starts when `held_until_start` (taken by an
        operator, to be paid at the desk on arrival). Raises what check_booking_request
        raises."""
        check_booking_request(hall, rules, start, end, now, special_days)
        price = quote(hall, rules, start, end)
        tz = rules.tz
        hold_ends = _utc(start) if held_until_start else min(
            _utc(now) + timedelta(minutes=rules.hold_minutes), _utc(start))
        return cls(id=id, hall_id=hall.id, start=start.astimezone(tz), end=end.astimezone(tz),
                   status=BookingStatus.PENDING_PAYMENT, price_total=price.price_total,
                   prepayment_amount=price.prepayment_amount, currency=price.currency,
                   hold_expires_at=hold_ends.astimezone(tz), customer=dict(customer or {}))

    @property
    def is_active(self) -> bool:
        return self.status in BookingStatus.ACTIVE

    @property
    def remaining_due(self) -> int:
        return self.price_total - self.amount_paid

    def is_hold_expired(self, now: datetime) -> bool:
        """Whether an unpaid booking's hold has run out (never true once it is confirmed)."""
        return (self.status == BookingStatus.PENDING_PAYMENT
                and self.hold_expires_at is not None
                and _utc(self.hold_expires_at) <= _utc(now, "now"))

    def _refuse(self, action, why):
        refusal = (BookingCancelled if self.status == BookingStatus.CANCELLED
                   else InvalidTransition)
        return refusal(f"booking {self.id} is {self.status}: cannot {action}, {why}",
                       {"booking_id": str(self.id), "status": self.status, "action": action})

    def confirm(self, payment_id: str, amount: int, now: datetime) -> Transition | None:
        """Apply a payment of `amount` kopecks and confirm the booking. Returns None and
        changes nothing when this payment_id was applied already; else the transition:
        booking.confirmed, or booking.payment_recorded for a later payment (the remainder).

        A pending booking whose hold has run out is confirmed too (an expired one after
        retake_slot): the caller has made sure its slot is still free.
        What a payment brings beyond the price is not counted as paid: it is recorded in
        `overpaid` under the payment's id, fixed now, whatever order payments arrive in.
        """
        _require_aware(now, "now")
        if payment_id in self.payment_ids:
            return None
        if not isinstance(payment_id, str) or not payment_id:
            raise BookingRuleViolation("a payment needs an id",
                                       {"payment_id": ["must be a non-empty string"]})
        if not _is_int(amount) or amount <= 0:
            raise BookingRuleViolation("a payment needs a positive amount",
                                       {"amount": ["must be a positive whole number of kopecks"]})
        if self.status not in BookingStatus.ACTIVE:
            raise self._refuse("confirm", "only a pending or confirmed booking takes a payment")
        beyond = min(amount, max(0, self.amount_paid + amount - self.price_total))
        if beyond:
            self.overpaid[payment_id] = beyond
        self.amount_paid += amount - beyond
        self.payment_ids.append(payment_id)
        was, self.status = self.status, BookingStatus.CONFIRMED
        return Transition(self.status, "booking.payment_recorded"
                          if was == BookingStatus.CONFIRMED else "booking.confirmed")

    def retake_slot(self) -> None:
        """An expired hold whose money came late holds its slot again (pending), for the
        caller to prove the slot free before it confirms."""
        if self.status != BookingStatus.EXPIRED:
            raise self._refuse("retake its slot", "only an expired hold can")
        self.status = BookingStatus.PENDING_PAYMENT

    def refund_due_on_cancel(self, by: str, now: datetime, *, full_refund_hours: int = 24) -> int:
        """What goes back to the customer if the booking is cancelled now.

        The operator's cancellation refunds everything; so does the customer's made at least
        `full_refund_hours` before the start. Later the customer keeps only what was paid
        beyond the prepayment.
        """
        if by not in CANCELLERS:
            raise ValueError(f"by must be one of {CANCELLERS}, got {by!r}")
        _require_aware(now, "now")
        _require_count(full_refund_hours, "full_refund_hours")
        if by == "operator":
            return self.amount_paid
        if _utc(self.start) - _utc(now) >= timedelta(hours=full_refund_hours):
            return self.amount_paid
        return max(0, self.amount_paid - self.prepayment_amount)

    def cancel(self, by: str, now: datetime, *, full_refund_hours: int = 24) -> Transition:
        """Cancel a pending or confirmed booking; the transition carries the refund due."""
        refund_due = self.refund_due_on_cancel(by, now, full_refund_hours=full_refund_hours)
        if self.status not in BookingStatus.ACTIVE:
            raise self._refuse("cancel", "only a pending or confirmed booking can be cancelled")
        self.status = BookingStatus.CANCELLED
        return Transition(self.status, "booking.cancelled", refund_due)

    def reschedule(self, hall: Hall, rules: Rules, start: datetime, end: datetime,
                   now: datetime, *, by: str, keep_price: bool = False,
                   special_days: dict | None = None) -> Transition:
        """Move a pending or confirmed booking to [start, end) of `hall` (the same or another),
        under the rules a new booking meets. The price is quoted again (an operator may keep
        the old one): more leaves more due; less refunds what was paid beyond it, which the
        transition carries as refund_due. A customer may move a booking up to the free-refund
        deadline (`full_refund_hours` before the start) and `max_reschedules` times; an
        operator at any time. A hold keeps its expiry (never after the new start): moving
        does not extend it. Whether the new time is free is the database's to say."""
        if by not in CANCELLERS:
            raise ValueError(f"by must be one of {CANCELLERS}, got {by!r}")
        _require_aware(now, "now")
        if self.status not in BookingStatus.ACTIVE:
            raise self._refuse("move", "only a pending or confirmed booking can be moved")
        if self.is_hold_expired(now):
            raise self._refuse("move", "its hold has run out")
        details = {"booking_id": str(self.id)}
        if by == "customer":
            if keep_price:
                raise BookingRuleViolation("Only an operator can keep the old price.",
                                           {"keep_price": ["an operator's choice"]})
            deadline = _utc(self.start) - timedelta(hours=rules.full_refund_hours)
            if _utc(now) > deadline:
                raise RescheduleTooLate(
                    f"A booking can be moved up to {rules.full_refund_hours} h before it "
                    "starts; ask the studio.",
                    {**details, "deadline": deadline.astimezone(self.start.tzinfo).isoformat()})
            if self.reschedules >= rules.max_reschedules:
                raise RescheduleLimitReached(
                    f"This booking was moved {self.reschedules} times, the most allowed; "
                    "ask the studio.", {**details, "limit": rules.max_reschedules})
        if hall.id == self.hall_id and _utc(start) == _utc(self.start) \
                and _utc(end) == _utc(self.end):
            raise BookingRuleViolation("The booking is at this time already.",
                                       {"start": ["choose another time or hall"]})
        check_booking_request(hall, rules, start, end, now, special_days)
        if not keep_price:
            price = quote(hall, rules, start, end)
            if price.currency != self.currency:
                raise BookingRuleViolation("That hall charges in another currency.",
                                           {"hall_id": [f"charges in {price.currency}"]})
            self.price_total, self.prepayment_amount = price.price_total, price.prepayment_amount
        refund_due = max(0, self.amount_paid - self.price_total)
        self.amount_paid -= refund_due
        tz = rules.tz
        self.hall_id, self.start, self.end = hall.id, start.astimezone(tz), end.astimezone(tz)
        if self.hold_expires_at is not None:
            self.hold_expires_at = min(_utc(self.hold_expires_at), _utc(start)).astimezone(tz)
        self.reschedules += 1
        return Transition(self.status, "booking.rescheduled", refund_due)

    def expire(self, now: datetime) -> Transition:
        """Release the slot of an unpaid booking whose hold has run out."""
        if self.status != BookingStatus.PENDING_PAYMENT:
            raise self._refuse("expire", "only an unpaid booking expires")
        if not self.is_hold_expired(now):
            raise self._refuse("expire", f"its hold lasts until {self.hold_expires_at}")
        self.status = BookingStatus.EXPIRED
        return Transition(self.status, "booking.expired")

    def complete(self, now: datetime) -> Transition:
        """Mark a confirmed booking that has ended as completed."""
        _require_aware(now, "now")
        if self.status != BookingStatus.CONFIRMED:
            raise self._refuse("complete", "only a confirmed booking can be completed")
        if _utc(self.end) > _utc(now):
            raise self._refuse("complete", f"it has not ended yet (ends {self.end.isoformat()})")
        self.status = BookingStatus.COMPLETED
        return Transition(self.status, "booking.completed")
