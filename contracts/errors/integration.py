"""The failures of the integration service a caller can act on (its RPC contract).

Every class keeps the `(message="", details=None)` constructor of StudioError: the errors
cross RPC as their args and are rebuilt on the caller's side as the same type.
"""
from contracts.errors.base import Conflict, NotFound, StudioError

__all__ = ["EventNotFound", "EventNotRetryable", "OperatorExists", "OperatorNotFound",
           "SessionEnded", "SignInRefused", "TooManySignInAttempts", "WebhookDeliveryNotFound",
           "WebhookEndpointNotFound"]


class EventNotFound(NotFound):
    """The integration log has no event with this id."""

    code = "event_not_found"


class EventNotRetryable(Conflict):
    """Only a failed or dead event has a reaction to try again."""

    code = "event_not_retryable"


class OperatorNotFound(NotFound):
    """There is no operator of this name."""

    code = "operator_not_found"


class OperatorExists(Conflict):
    """An operator of this name exists already (with another role or password)."""

    code = "operator_exists"


class SignInRefused(StudioError):
    """The name and password (or the token) do not match an active operator. Says no more,
    so a guesser learns nothing of which names exist."""

    code = "sign_in_refused"


class SessionEnded(StudioError):
    """The session cookie is unknown, signed out, or has run out: sign in again."""

    code = "session_ended"


class TooManySignInAttempts(StudioError):
    """Too many failed sign-ins for this name or from this address; details.retry_after
    (seconds) says when to try again."""

    code = "too_many_sign_in_attempts"
class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
