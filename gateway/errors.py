"""The one table from exception to HTTP answer. No endpoint writes its own try/except."""
import logging

from marshmallow import ValidationError
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException

from contracts.errors.base import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    LimitReached,
    NotFound,
    ServiceUnavailable,
    StudioError,
)
from contracts.errors.integration import SessionEnded, SignInRefused, TooManySignInAttempts

log = logging.getLogger(__name__)


class MalformedBody(StudioError):
    code = "malformed_request"


class BodyTooLarge(StudioError):
    code = "body_too_large"


class Unauthorized(StudioError):
    code = "unauthorized"


class CsrfRefused(AccessDenied):
    """A state-changing request with the session cookie but without its CSRF token."""

    code = "csrf_refused"


class RouteNotFound(NotFound):
    code = "route_not_found"


class RateLimited(StudioError):
    """Past a rate limit; `headers` (Retry-After, RateLimit-*) go on the answer."""
    code = "rate_limited"

    def __init__(self, message="", details=None, headers=None):
        super().__init__(message, details)
        self.headers = headers or {}


class TooManyStreams(StudioError):
    """This booking has as many live streams open as one booking may."""

    code = "too_many_streams"


class LiveStreamsFull(ServiceUnavailable):
    """This gateway process holds as many live streams as it may."""

    code = "live_streams_full"


# Most specific first: the first matching class decides.
STATUS_BY_ERROR = (
    (MalformedBody, 400),
    (Unauthorized, 401),
    (SignInRefused, 401),
    (SessionEnded, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (BodyTooLarge, 413),
    (InvalidRequest, 422),
    (LimitReached, 429),
    (TooManySignInAttempts, 429),
    (RateLimited, 429),
    (TooManyStreams, 429),
    (ServiceUnavailable, 503),
)


# A service whose database does not answer (down, restarting, out of connections) is as
# unavailable as one that does not answer at all: 503, and the client may retry.
DATABASE_UNAVAILABLE = {"OperationalError", "InterfaceError"}


def error_body(code, message, details=None):
    return {"error": code, "message": message, "details": details or {}}


def status_and_body(exc):
    """(HTTP status, JSON body) for any exception; never leaks a stack trace."""
    if isinstance(exc, ValidationError):
        return 422, error_body("validation_error", "Some fields are invalid.",
                               _field_messages(exc.messages))
    if isinstance(exc, StudioError):
        for error_type, status in STATUS_BY_ERROR:
            if isinstance(exc, error_type):
                return status, error_body(exc.code, exc.message, exc.details)
    if isinstance(exc, HTTPException):
        return exc.code, error_body(exc.name.lower().replace(" ", "_"), exc.description)
    if isinstance(exc, RemoteError) and exc.exc_type in DATABASE_UNAVAILABLE:
        log.warning("a service's database is unavailable: %s", exc.value)
        return 503, error_body(ServiceUnavailable.code,
                               "A database behind the service is unavailable; try again.")
    if isinstance(exc, RemoteError):
        log.error("unexpected error in a service: %s %s", exc.exc_type, exc.value)
    else:
        log.exception("unexpected error in the gateway", exc_info=exc)
    return 500, error_body("internal_error", "Something went wrong on our side.")


def _field_messages(messages):
    """marshmallow's messages for a whole body ({'_schema': [...]}) or for fields."""
    if isinstance(messages, list):
        return {"_schema": messages}
    return messages
