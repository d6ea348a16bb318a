"""The failures of the integration service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import Conflict, NotFound

__all__ = ["EventNotFound", "EventNotRetryable"]


class EventNotFound(NotFound):
    """The integration log has no event with this id."""

    code = "event_not_found"


class EventNotRetryable(Conflict):
    """Only a failed or dead event has a reaction to try again."""

    code = "event_not_retryable"
