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


def build_provider(name, settings):
    """The adapter for provider `name`, configured from its section of PAYMENTS.providers."""
    try:
        provider_class = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(PROVIDERS)}") from None
    return provider_class(dict(settings or {}))


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
