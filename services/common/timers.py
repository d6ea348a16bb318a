"""Timers whose interval a studio (or a test) sets in config.yaml."""
from nameko.timer import Timer


class ConfiguredTimer(Timer):
    """`@configured_timer("PAYMENTS", "reconcile_interval_seconds", default=60)`: runs every
    that many seconds, as the config section says; `default` where it says nothing."""

    def __init__(self, section, key, default=None, **kwargs):
        self.section, self.key = section, key
        super().__init__(interval=default, **kwargs)

    def setup(self):
        value = (self.container.config.get(self.section) or {}).get(self.key)
        if value not in (None, ""):
            self.interval = float(value)
        if self.interval is None:
            raise KeyError(f"{self.section}.{self.key} is not set and has no default")


configured_timer = ConfiguredTimer.decorator
