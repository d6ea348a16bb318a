"""The payments service's configuration: PAYMENTS from config.yaml, and which provider adapter
serves which gateway in this PAYMENT_ENV."""
from dataclasses import dataclass
from datetime import timedelta

from contracts.errors.base import InvalidRequest
from contracts.errors.payments import UnknownGateway
from services.payments.providers import MockProvider, build_provider

PAYMENT_ENVS = ("mock", "test", "production")
REAL_GATEWAYS = ("yookassa", "sberpay", "tinkoff")
MOCK = "mock"


@dataclass(frozen=True)
class Settings:
    """PAYMENTS from config.yaml, as the use cases need it."""
    env: str = MOCK
    reconcile_after: timedelta = timedelta(minutes=10)
    reconcile_interval: timedelta = timedelta(seconds=60)
    pending_lifetime: timedelta = timedelta(minutes=60)
    idempotency_key_lifetime: timedelta = timedelta(hours=24)
    default_return_url: str = "http://127.0.0.1:8000/"
    # hosts a payer may be sent back to: anything else would make checkout an open redirect
    return_url_hosts: tuple = ()
    mock_webhook_url: str = ""
    mock_webhook_secret: str = ""

    @classmethod
    def from_config(cls, payments, public_url="http://127.0.0.1:8000"):
        env = str(payments.get("env") or MOCK).strip().lower()
        if env not in PAYMENT_ENVS:
            raise ValueError(f"PAYMENT_ENV must be one of {', '.join(PAYMENT_ENVS)}, not {env!r}")
        mock = (payments.get("providers") or {}).get(MOCK) or {}
        return cls(
            env=env,
            reconcile_after=timedelta(minutes=float(payments["reconcile_after_minutes"])),
            reconcile_interval=timedelta(seconds=float(payments["reconcile_interval_seconds"])),
            pending_lifetime=timedelta(minutes=float(payments["pending_lifetime_minutes"])),
            idempotency_key_lifetime=timedelta(
                hours=float(payments.get("idempotency_key_hours", 24))),
            default_return_url=str(payments.get("default_return_url") or cls.default_return_url),
            return_url_hosts=tuple(host.strip().lower() for host in
                                   str(payments.get("return_url_hosts") or "").split(",")
                                   if host.strip()),
            mock_webhook_url=str(mock.get("webhook_url") or
                                 f"{str(public_url).rstrip('/')}/api/payments/webhook/mock"),
            mock_webhook_secret=str(mock.get("webhook_secret") or ""),
        )


class Gateways:
    """Which provider adapter serves which gateway.

    With PAYMENT_ENV=mock every gateway a customer picks is served by the mock provider (no
    call leaves the machine) and the payment remembers both: `gateway` as picked, `provider`
    as used. In test and production the mock does not exist at all: its webhook secret has a
    public default, and a mock webhook there would be free money.
    """

    def __init__(self, env, adapters):
        self.env = env
        self.adapters = dict(adapters)

    @classmethod
    def from_config(cls, payments, env, mock_state_lookup=None):
        providers = payments.get("providers") or {}
        adapters = {name: build_provider(name, providers.get(name)) for name in REAL_GATEWAYS}
        if env == MOCK:
            settings = dict(providers.get(MOCK) or {})
            # config.yaml holds the checkout page's base URL (no braces in config values).
            settings["checkout_url"] = settings["checkout_url"].rstrip("/") + "/{payment_id}"
            adapters[MOCK] = MockProvider(settings, state_lookup=mock_state_lookup)
        return cls(env, adapters)

    def provider_for_new_payment(self, gateway):
        if self.env == MOCK and MOCK in self.adapters:
            return MOCK
        if gateway in self.adapters and gateway != MOCK:
            return gateway
        raise InvalidRequest("This payment gateway is not available here.",
                             {"gateway": [f"not available with PAYMENT_ENV={self.env}"]})

    def adapter(self, name):
        try:
            return self.adapters[name]
        except KeyError:
            raise UnknownGateway(f"There is no payment gateway {name!r} here.",
                                 {"gateway": name}) from None

    @property
    def mock(self):
        return self.adapter(MOCK)
