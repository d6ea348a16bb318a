"""Reading config.yaml the way `nameko run` does (with ${VAR:default}), for scripts and tests."""
import os

import yaml
from nameko.cli.main import setup_yaml_parser
from nameko.extensions import DependencyProvider
from sqlalchemy.engine import make_url

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "config.yaml")


def setting_is_true(value):
    """A yes/no setting: YAML gives a bool, but a ${VAR:default} may arrive as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def load_config(path=None):
    setup_yaml_parser()
    with open(path or os.environ.get("STUDIO_CONFIG", DEFAULT_PATH)) as f:
        config = yaml.safe_load(f)
    if config.get("DB_URIS"):
        config["DB_URIS"] = {key: with_psycopg2(uri) for key, uri in config["DB_URIS"].items()}
    return config


def with_psycopg2(uri):
    """The database URI for SQLAlchemy, its driver named: SQLAlchemy 2.1 reads a bare
    `postgresql://` as psycopg 3, and the services use psycopg2 (psycogreen makes it
    cooperative under eventlet). DATABASE_URL may be given either way."""
    url = make_url(uri)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


def libpq_uri(uri):
    """The URI as libpq reads it (psycopg2.connect, pg_dump): no SQLAlchemy driver suffix."""
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


def db_uri(config, service_name):
    return with_psycopg2(config["DB_URIS"][f"{service_name}:Base"])


class Config(DependencyProvider):
    """A value built once from the container's config; subclasses say how (`build`)."""

    def setup(self):
        self.value = self.build(self.container.config)

    def build(self, config):
        raise NotImplementedError

    def get_dependency(self, worker_ctx):
        return self.value
