"""The failures of the notifications service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import InvalidRequest

__all__ = ["InvalidNotification", "NoRecipient", "UnknownTemplate"]


class InvalidNotification(InvalidRequest):
    """A send or a listing asks for something malformed; details is {field: [message]}."""

    code = "validation_error"


class UnknownTemplate(InvalidRequest):
    """No such template, or not one that can be sent for a booking."""

    code = "unknown_template"


class NoRecipient(InvalidRequest):
    """The booking's customer cannot be reached over the channel asked for (or at all)."""

    code = "no_recipient"
