"""The failures of the booking service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import Conflict, InvalidRequest, InvalidTransition, NotFound

__all__ = [
    "BookingCancelled",
    "BookingNotFound",
    "BookingRuleViolation",
    "HallInactive",
    "HallNotFound",
    "InvalidTransition",
    "SlotTaken",
]


class HallNotFound(NotFound):
    code = "hall_not_found"


class BookingNotFound(NotFound):
    code = "booking_not_found"


class SlotTaken(Conflict):
    """The time asked for (with the hall's cleaning buffer) overlaps an active booking."""

    code = "slot_taken"


class HallInactive(Conflict):
    """The hall exists but is not taking bookings."""

    code = "hall_inactive"


class BookingRuleViolation(InvalidRequest):
    """A booking request breaks the studio's rules; details is {field: [message, ...]}."""

    code = "validation_error"


class BookingCancelled(InvalidTransition):
    """The booking was cancelled: it takes no move but reading it (a payment that arrives
    for it is refunded). Answered as any invalid transition."""
