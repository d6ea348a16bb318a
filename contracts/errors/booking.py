"""The failures of the booking service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import (
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidTransition,
    LimitReached,
    NotFound,
)

__all__ = [
    "BlockHitsBookings",
    "BlockNotFound",
    "BookingCancelled",
    "BookingNotFound",
    "BookingRuleViolation",
    "HallClosed",
    "HallInactive",
    "HallNotFound",
    "IdempotencyKeyReused",
    "InvalidTransition",
    "RescheduleLimitReached",
    "RescheduleTooLate",
    "SlotTaken",
    "TooManyHolds",
]


class HallNotFound(NotFound):
    code = "hall_not_found"


class BookingNotFound(NotFound):
    code = "booking_not_found"


class SlotTaken(Conflict):
    """The time asked for (with the hall's cleaning buffer) overlaps an active booking."""

    code = "slot_taken"


class HallClosed(SlotTaken):
    """The time asked for (with the hall's cleaning buffer) runs into a closure of the hall
    (a block: a holiday, maintenance, the studio's own shoot). A kind of SlotTaken: a caller
    that refunds a payment whose slot is gone treats both alike."""

    code = "hall_closed"


class BlockNotFound(NotFound):
    code = "block_not_found"


class BlockHitsBookings(Conflict):
    """A new block would cover active bookings; details: {bookings: [...]}. Sent again with
    force, the block is made and the bookings stay for the operator to move or cancel."""

    code = "block_hits_bookings"


class HallInactive(Conflict):
    """The hall exists but is not taking bookings."""

    code = "hall_inactive"


class HallNameTaken(Conflict):
    """Another hall already has this name (names tell halls apart on the booking page)."""

    code = "hall_name_taken"


class BookingRuleViolation(InvalidRequest):
    """A booking request breaks the studio's rules; details is {field: [message, ...]}."""

    code = "validation_error"


class BookingCancelled(InvalidTransition):
    """The booking was cancelled: it takes no move but reading it (a payment that arrives
    for it is refunded). Answered as any invalid transition."""


class RescheduleTooLate(Conflict):
    """A customer may move a booking only up to the free-refund deadline; details: {deadline}.
    An operator may move it later."""

    code = "reschedule_too_late"


class RescheduleLimitReached(Conflict):
    """The booking was moved as many times as a customer may; details: {limit}."""

    code = "reschedule_limit_reached"


class TooManyHolds(LimitReached):
    """The customer (phone, e-mail) or client address runs as many unpaid holds as allowed;
    details: {limit, by: [phone|email|ip]}."""

    code = "too_many_holds"
