"""Payment provider adapters: one module per provider behind the interface in `base`."""
from .base import (
    PAYMENT_STATUSES,
    Notification,
    NotificationForged,
    Provider,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
)
from .mock import MockProvider
from .sberpay import SberPayProvider
from .tinkoff import TinkoffProvider
from .yookassa import YooKassaProvider

PROVIDERS = {
    MockProvider.name: MockProvider,
    YooKassaProvider.name: YooKassaProvider,
    TinkoffProvider.name: TinkoffProvider,
    SberPayProvider.name: SberPayProvider,
}


def build_provider(name, settings, env="test"):
    """The adapter for provider `name`, configured from its section of PAYMENTS.providers.
    Its API address is `api_url` when set, else the one of `api_urls` for PAYMENT_ENV `env`:
    the provider's sandbox for test (and mock: nothing real by accident), its real API for
    production."""
    try:
        provider_class = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(PROVIDERS)}") from None
    settings = dict(settings or {})
    api_urls = settings.pop("api_urls", None) or {}
    if not settings.get("api_url") and api_urls:
        settings["api_url"] = api_urls["production" if env == "production" else "test"]
    return provider_class(settings)


__all__ = [
    "PAYMENT_STATUSES",
    "PROVIDERS",
    "MockProvider",
    "Notification",
    "NotificationForged",
    "Provider",
    "ProviderError",
    "ProviderPayment",
    "ProviderRefund",
    "SberPayProvider",
    "TinkoffProvider",
    "YooKassaProvider",
    "build_provider",
]
