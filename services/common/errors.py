"""The error types every service shares.

Each error a caller can act on is one class with a stable `code`; the gateway maps the class
to an HTTP status once. Errors cross RPC with (message, details) as their args, so the caller
gets the same type back (see services.common.remote_errors).
"""
from nameko.exceptions import get_module_path, registry


class StudioError(Exception):
    """Base of every error a caller can act on.

    Every subclass registers itself with nameko, so an RPC caller that imports it gets the
    same type back instead of a generic RemoteError.
    """

    code = "error"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registry[get_module_path(cls)] = cls

    def __init__(self, message="", details=None):
        super().__init__(message, details or {})

    @property
    def message(self):
        return self.args[0]

    @property
    def details(self):
        return self.args[1]


class InvalidRequest(StudioError):
    """Fields break a rule; details maps each field to a list of messages."""

    code = "validation_error"


class NotFound(StudioError):
    code = "not_found"


class Conflict(StudioError):
    code = "conflict"


class IdempotencyKeyReused(Conflict):
    """The same Idempotency-Key (request id) came with a different request."""

    code = "idempotency_key_reused"


class InvalidTransition(Conflict):
    """The object is in a state that does not allow this move."""

    code = "invalid_transition"


class LimitReached(StudioError):
    """The caller has used up what it may do for now (HTTP 429)."""

    code = "too_many_requests"


class AccessDenied(StudioError):
    """Credentials were given but do not grant access."""

    code = "forbidden"


class ServiceUnavailable(StudioError):
    """A service behind the caller did not answer in time."""

    code = "service_unavailable"
