"""Reading config.yaml the way `nameko run` does (with ${VAR:default}), for scripts and tests."""
import os

import yaml
from nameko.cli.main import setup_yaml_parser
from nameko.extensions import DependencyProvider

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "config.yaml")


def setting_is_true(value):
    """A yes/no setting: YAML gives a bool, but a ${VAR:default} may arrive as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def load_config(path=None):
    setup_yaml_parser()
    with open(path or os.environ.get("STUDIO_CONFIG", DEFAULT_PATH)) as f:
        return yaml.safe_load(f)


def db_uri(config, service_name):
    return config["DB_URIS"][f"{service_name}:Base"]


class Config(DependencyProvider):
    """A value built once from the container's config; subclasses say how (`build`)."""

    def setup(self):
        self.value = self.build(self.container.config)

    def build(self, config):
        raise NotImplementedError

    def get_dependency(self, worker_ctx):
        return self.value
