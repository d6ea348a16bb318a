"""The one table from exception to HTTP answer. No endpoint writes its own try/except."""
import logging

from marshmallow import ValidationError
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException

from contracts.errors.base import (AccessDenied, Conflict, InvalidRequest, NotFound,
                                   ServiceUnavailable, StudioError)

log = logging.getLogger(__name__)


class MalformedBody(StudioError):
    code = "malformed_request"


class BodyTooLarge(StudioError):
    code = "body_too_large"


class Unauthorized(StudioError):
    code = "unauthorized"


class RouteNotFound(NotFound):
    code = "route_not_found"


# Most specific first: the first matching class decides.
STATUS_BY_ERROR = (
    (MalformedBody, 400),
    (Unauthorized, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (BodyTooLarge, 413),
    (InvalidRequest, 422),
    (ServiceUnavailable, 503),
)


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
