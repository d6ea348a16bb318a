"""Outbound webhooks, the rules with no I/O: which URLs and addresses an endpoint may use,
which events it gets, how a delivery is signed (the Standard Webhooks specification), what a
receiver's answer means, and when the next try falls due."""
import base64
import fnmatch
import functools
import hashlib
import ipaddress
import json
import math
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, MultiFernet
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
EVENT_PATTERN = re.compile(r"^(\*|[a-z_]+\.(\*|[a-z_]+))$")
# Cloud metadata services: never reachable, whatever the allow-list says.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"))


SEALED_PREFIX = "sealed:"
DEVELOPMENT_SECRET_KEY = "dev-only-webhook-secret-key"


@dataclass(frozen=True)
class SecretBox:
    """The endpoints' signing secrets are needed in clear to sign, so they are kept encrypted
    (Fernet: AES-CBC with an HMAC) under WEBHOOK_SECRET_KEYS: a database dump or backup alone
    does not let anyone forge the studio's webhooks. The first key seals; every key opens, so a
    key is rotated by putting the new one first (then `reseal_webhook_secrets`)."""
    keys: tuple = (DEVELOPMENT_SECRET_KEY,)

    @functools.cached_property
    def _fernet(self):
        # any passphrase makes a key: its SHA-256 is the 32 bytes Fernet wants
        return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
                            for key in self.keys])

    def seal(self, secret):
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored):
        """The secret in clear; one stored before secrets were sealed is taken as it is."""
        if stored is None or not stored.startswith(SEALED_PREFIX):
            return stored
        return self._fernet.decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()

    def reseal(self, stored):
        """Sealed under the first key (after a key rotation, or a secret stored in clear)."""
        return None if stored is None else self.seal(self.open(stored))


class AddressRefused(Exception):
    """The endpoint's host is (or resolves to) an address webhooks must not reach."""


@dataclass(frozen=True)
class WebhookSettings:
    http_allowed_hosts: frozenset = frozenset()
    allowed_networks: tuple = ()
    retry_schedule: tuple = (5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.2
    connect_timeout: float = 3.0
    timeout: float = 10.0
    max_response_bytes: int = 65536
    excerpt_chars: int = 500
    disable_after: timedelta = timedelta(days=3)
    secret_overlap: timedelta = timedelta(hours=24)
    concurrency: int = 10
    interval_seconds: float = 5.0
    secret_box: SecretBox = SecretBox()

    @classmethod
    def from_config(cls, config):
        section = config.get("WEBHOOKS") or {}
        defaults = cls()

        def items(name):
            value = section.get(name)
            if isinstance(value, (list, tuple)):
                return [str(v).strip() for v in value if str(v).strip()]
            return [v.strip() for v in str(value or "").split(",") if v.strip()]

        def number(name, default, kind=float):
            value = section.get(name)
            return default if value in (None, "") else kind(value)

        return cls(
            http_allowed_hosts=frozenset(h.lower() for h in items("http_allowed_hosts")),
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False)
                                   for n in items("allowed_networks")),
            retry_schedule=tuple(float(s) for s in items("retry_schedule_seconds"))
            or defaults.retry_schedule,
            jitter=number("jitter", defaults.jitter),
            connect_timeout=number("connect_timeout_seconds", defaults.connect_timeout),
            timeout=number("timeout_seconds", defaults.timeout),
            max_response_bytes=number("max_response_bytes", defaults.max_response_bytes, int),
            disable_after=timedelta(days=number("disable_after_failing_days", 3)),
            secret_overlap=timedelta(hours=number("secret_overlap_hours", 24)),
            concurrency=number("concurrency", defaults.concurrency, int),
            interval_seconds=number("interval_seconds", defaults.interval_seconds),
            secret_box=SecretBox(tuple(items("secret_keys")) or defaults.secret_box.keys),
        )

    @property
    def max_attempts(self):
        return len(self.retry_schedule) + 1


# --- endpoints --------------------------------------------------------------------------------

def url_problem(url, settings):
    """Why an endpoint URL is refused (None: fine). https, or http to an allow-listed host;
    no credentials in it; a literal address must be one webhooks may reach."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError as exc:
        return f"not a URL: {exc}"
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.scheme == "http" and host not in settings.http_allowed_hosts:
        return "must be https:// (http:// only to the development hosts allowed in config)"
    if parts.username or parts.password:
        return "must not carry credentials"
    try:
        check_address(ipaddress.ip_address(host), settings)
    except ValueError:
        pass  # a name: its addresses are checked at every send
    except AddressRefused as exc:
        return str(exc)
    return None


def check_address(address, settings):
    """Raise AddressRefused for private, loopback, link-local, metadata and other special
    addresses, unless in the allow-list (metadata never)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        raise AddressRefused(f"{address} is a cloud metadata address")
    if any(address in network for network in settings.allowed_networks):
        return
    if not address.is_global or address.is_multicast:
        raise AddressRefused(f"{address} is a private, loopback, link-local or reserved address")


def event_type_problem(pattern):
    return None if EVENT_PATTERN.match(pattern) else \
        "an event type (booking.confirmed), a family (booking.*) or *"


def wants(event_types, event_type):
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in event_types)


def new_secret():
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


# --- a delivery -------------------------------------------------------------------------------

def body_of(envelope, include_personal_data):
    """The JSON text sent (and signed): the event envelope, without the customer's contact
    unless the endpoint is trusted with it."""
    if not include_personal_data and "customer" in envelope.get("payload", {}):
        envelope = {**envelope, "payload": {k: v for k, v in envelope["payload"].items()
                                            if k != "customer"}}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def signed_headers(message_id, body, signing_secrets, at):
    """The Standard Webhooks headers; one signature per secret, space-separated."""
    at = at.astimezone(timezone.utc)
    signatures = " ".join(Webhook(secret).sign(message_id, at, body)
                          for secret in signing_secrets)
    return {"webhook-id": message_id, "webhook-timestamp": str(math.floor(at.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json"}


def signing_secrets(secret, previous_secret, previous_expires_at, now):
    """The current secret, and the previous one while the rotation's overlap lasts."""
    if previous_secret and previous_expires_at and now < previous_expires_at:
        return [secret, previous_secret]
    return [secret]


@dataclass(frozen=True)
class Answer:
    """How one try went: the receiver's status code (None: no answer) and what it said."""
    status_code: int | None
    excerpt: str = ""
    error: str | None = None

    @property
    def delivered(self):
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self):
        """410 Gone: the receiver asks us to stop for good."""
        return self.status_code == 410


def next_try_delay(attempts, settings, rng=random.random):
    """Seconds from a failed try number `attempts` (1, 2, ...) to the next, ±jitter so that
    an endpoint's backlog does not come back at once; None after the last."""
    if attempts > len(settings.retry_schedule):
        return None
    base = settings.retry_schedule[attempts - 1]
    return max(0.0, base * (1 + settings.jitter * (2 * rng() - 1)))


def failing_too_long(failing_since, now, settings):
    return failing_since is not None and now - failing_since >= settings.disable_after


def utc_now():
    return datetime.now(timezone.utc)
