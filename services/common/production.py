"""What every process refuses to start on with PAYMENT_ENV=production: a secret left at its
development default (or missing). A studio that deploys with `change-me-admin-token` or the
broker's guest/guest finds out at start-up, not from an intruder."""
from urllib.parse import urlsplit

from nameko.extensions import DependencyProvider

from services.common import booking_links

# The values config.yaml and docker-compose.yml give a developer's machine.
DEVELOPMENT_SECRETS = {"", "change-me-admin-token", "guest", "studio-dev", "postgres",
                       "mock-webhook-secret", "dev-only-webhook-secret-key",
                       booking_links.DEFAULT_SECRET}

# provider: (the setting that says it is in use, its secrets and the variables they come from)
PROVIDER_SECRETS = {
    "yookassa": ("shop_id", {"secret_key": "YOOKASSA_SECRET_KEY"}),
    # T-Bank signs its notifications with the terminal's password, Sber with the callback key
    "tinkoff": ("terminal_key", {"password": "TINKOFF_PASSWORD"}),
    "sberpay": ("username", {"password": "SBER_PASSWORD", "callback_key": "SBER_CALLBACK_KEY"}),
}


def payment_env(config):
    return str(config["PAYMENTS"].get("env") or "mock").strip().lower()


def _is_default(value):
    return str(value or "").strip() in DEVELOPMENT_SECRETS


def default_secrets(config):
    """Every secret of `config` left at a development default, one line each naming the
    variable to set."""
    problems = []
    if _is_default(config.get("ADMIN_TOKEN")):
        problems.append("ADMIN_TOKEN is the default one: set a long random token")
    if _is_default(urlsplit(config["AMQP_URI"]).password):
        problems.append("AMQP_URI has the broker's default password (or none)")
    if any(_is_default(urlsplit(uri).password) for uri in config["DB_URIS"].values()):
        problems.append("DATABASE_URL has the database's default password (or none)")
    if _is_default(config.get("BOOKING_LINK_SECRET")):
        problems.append("BOOKING_LINK_SECRET is the default one: set a long random secret")
    webhook_keys = str((config.get("WEBHOOKS") or {}).get("secret_keys") or "").split(",")
    if any(_is_default(key) for key in webhook_keys):
        problems.append("WEBHOOK_SECRET_KEYS is the default one (or empty): set a long random key")
    providers = config["PAYMENTS"].get("providers") or {}
    for name, (identity, secrets) in PROVIDER_SECRETS.items():
        settings = providers.get(name) or {}
        if not str(settings.get(identity) or "").strip():
            continue  # not in use here
        problems += [f"{variable} is missing or a default, and {name} is configured"
                     for key, variable in secrets.items() if _is_default(settings.get(key))]
    return problems


def refuse_default_secrets_in_production(config):
    if payment_env(config) != "production":
        return
    problems = default_secrets(config)
    if problems:
        raise RuntimeError("PAYMENT_ENV=production does not start with default secrets:\n  - "
                           + "\n  - ".join(problems)
                           + "\nSet them in the environment (README: Configuration).")


class ProductionSecrets(DependencyProvider):
    """Declared on every service: the process stops at start-up on a default secret in
    production."""

    def setup(self):
        refuse_default_secrets_in_production(self.container.config)
