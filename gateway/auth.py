"""Who may call: operators (signed in to the dashboard, or machines with the admin token) and
customers with their booking's token.

An operator's browser holds its session in an HttpOnly, SameSite=Strict cookie (Secure over
HTTPS), never in a URL or in script-readable storage. A state-changing request made with
that cookie must also carry the session's CSRF token in the X-CSRF-Token header: a page of
another site can make the browser send the cookie, but cannot read the token to send with it.
"""
import hashlib
import hmac
from dataclasses import dataclass

from contracts.errors.base import AccessDenied
from contracts.operators import TOKEN_OPERATOR, role_allows
from gateway.errors import CsrfRefused, Unauthorized
from services.common import tracing

SESSION_COOKIE = "studio_session"
CSRF_COOKIE = "studio_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_OPERATOR_KEY = "studio.operator"


@dataclass(frozen=True)
class Operator:
    name: str
    role: str
    session_token: str | None = None     # None: the machine token


def bearer_token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_admin(token, admin_token):
    return token is not None and hmac.compare_digest(token.encode(), admin_token.encode())


def csrf_token(session_token):
    """The session's CSRF token: derived from the session token, so it needs no storage and
    cannot be made without the cookie's value."""
    return hmac.new(session_token.encode(), b"studio csrf", hashlib.sha256).hexdigest()


def request_id(request):
    """The request's id (its X-Request-ID answer header), for the audit trail."""
    return request.environ.get("studio.request_id") or tracing.accept(
        request.headers.get(tracing.REQUEST_ID_HEADER))


def signed_in_operator(request, admin_token, integration):
    """The operator behind a request, or None when it carries no operator credentials
    (a bearer token that is not the admin token is left to the caller to judge)."""
    token = bearer_token(request)
    if token is not None:
        if not is_admin(token, admin_token):
            return None
        operator = Operator(TOKEN_OPERATOR, "owner")
        request.environ[_OPERATOR_KEY] = operator
        return operator
    session_token = request.cookies.get(SESSION_COOKIE)
    if not session_token:
        return None
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, "").encode(), csrf_token(session_token).encode()):
        raise CsrfRefused(f"This request needs the session's {CSRF_HEADER} header.")
    found = integration.session_operator(session_token)      # SessionEnded: 401
    operator = Operator(found["name"], found["role"], session_token)
    request.environ[_OPERATOR_KEY] = operator
    return operator


def require_operator(request, admin_token, integration, role):
    """The operator of an admin request, who must have at least `role`."""
    operator = signed_in_operator(request, admin_token, integration)
    if operator is None:
        if bearer_token(request) is not None:
            raise AccessDenied("This token does not grant operator access.")
        raise Unauthorized("This needs an operator: sign in to the dashboard, or send "
                           "Authorization: Bearer <admin token>.")
    require_role(operator, role)
    return operator


def require_role(operator, role):
    if not role_allows(operator.role, role):
        raise AccessDenied(f"This needs the {role} role; {operator.name} is a {operator.role}.",
                           {"role": operator.role, "needs": role})


def operator_of(request):
    """The operator an endpoint was authorized for (None: a customer, or nobody)."""
    return request.environ.get(_OPERATOR_KEY)


def caller_token(request):
    """The bearer token of a customer endpoint (booking token or admin token)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("This needs the booking's access token: "
                           "Authorization: Bearer <token>.")
    return token

