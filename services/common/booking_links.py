"""Keys to one booking that need no stored secret of their own, signed with BOOKING_LINK_SECRET.

- The link token goes into the customer's messages (`{PUBLIC_URL}/b/<id>#t=<token>`): the
  booking's own access token is stored only hashed, so a message cannot carry it. Booking's
  check_access takes either; notifications computes it for its links.
- The live ticket opens the event stream of one booking for a few minutes, nothing else: an
  EventSource cannot send an Authorization header, and the long-lived token must not travel
  in a URL that lands in logs.
Each is an HMAC over a purpose label and the booking id, so one key cannot stand for another.
"""
import base64
import hashlib
import hmac
import os
import time

from services.common.config import Config

DEFAULT_SECRET = "dev-only-booking-link-secret"


def secret_from_config(config, payment_env=None):
    """BOOKING_LINK_SECRET; its default is refused in production (it is in the repository)."""
    secret = str(config.get("BOOKING_LINK_SECRET") or "")
    env = payment_env or (config.get("PAYMENTS") or {}).get("env")
    if env == "production" and (not secret or secret == DEFAULT_SECRET):
        raise RuntimeError("BOOKING_LINK_SECRET must be set to a secret value when "
                           "PAYMENT_ENV=production")
    return secret or DEFAULT_SECRET


def _sign(secret, *parts):
    digest = hmac.new(secret.encode(), "\0".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def link_token(secret, booking_id):
    """The key to a booking that its messages carry."""
    return _sign(secret, "booking-link", str(booking_id))


def is_link_token(secret, booking_id, token):
    return hmac.compare_digest(link_token(secret, booking_id).encode(), str(token).encode())


def live_ticket(secret, booking_id, seconds, now=None):
    """A ticket to the live events of one booking, good for `seconds`."""
    expires = int((now if now is not None else time.time()) + seconds)
    return f"{expires}.{_sign(secret, 'live-ticket', str(booking_id), str(expires))}"


def is_live_ticket(secret, booking_id, ticket, now=None):
    expires, _, signature = str(ticket or "").partition(".")
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    expected = _sign(secret, "live-ticket", str(booking_id), expires)
    return hmac.compare_digest(expected.encode(), signature.encode())


class BookingLinkSecret(Config):
    """BOOKING_LINK_SECRET as a dependency (refused on its default in production)."""

    def build(self, config):
        return secret_from_config(config, os.environ.get("PAYMENT_ENV"))
