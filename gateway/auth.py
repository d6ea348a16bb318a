"""Who may call: operators with the admin token, customers with their booking's token."""
import hmac

from contracts.errors.base import AccessDenied
from gateway.errors import Unauthorized

DEFAULT_ADMIN_TOKEN = "change-me-admin-token"


def bearer_token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_admin(token, admin_token):
    return token is not None and hmac.compare_digest(token.encode(), admin_token.encode())


def require_admin(request, admin_token):
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("This needs the operator's token: Authorization: Bearer <token>.")
    if not is_admin(token, admin_token):
        raise AccessDenied("This token does not grant operator access.")


def caller_token(request):
    """The bearer token of a customer endpoint (booking token or admin token)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("This needs the booking's access token: "
                           "Authorization: Bearer <token>.")
    return token


def check_admin_token_for_environment(admin_token, payment_env):
    if payment_env == "production" and (not admin_token or admin_token == DEFAULT_ADMIN_TOKEN):
        raise RuntimeError("ADMIN_TOKEN must be set to a secret value when PAYMENT_ENV=production")
