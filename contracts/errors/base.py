"""The error types every service shares, and the base of every error that crosses RPC.

Each error a caller can act on is one class with a stable `code`; the gateway maps the class
to an HTTP status once. Errors cross RPC with (message, details) as their args; every class is
listed in ERRORS by the path nameko names it by, and services.common.rpc registers them with
nameko, so the caller gets the same type back instead of a RemoteError. No nameko here: a
domain module raises these and stays free of the framework.
"""

# "module.Class" -> class, for every error type: what nameko rebuilds a remote error from.
ERRORS = {}


class StudioError(Exception):
    """Base of every error a caller can act on.

    Every subclass is listed in ERRORS, so an RPC caller gets the same type back instead of
    a generic RemoteError.
    """

    code = "error"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ERRORS[f"{cls.__module__}.{cls.__name__}"] = cls

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


class AccessDenied(StudioError):
    """Credentials were given but do not grant access."""

    code = "forbidden"


class ServiceUnavailable(StudioError):
    """A service behind the caller did not answer in time."""

    code = "service_unavailable"
