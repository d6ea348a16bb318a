"""Rate limits on the public endpoints, per client IP. The counts live in Redis (the `limits`
library's storage), so every gateway process shares them. Operators are not limited.

A fixed window: the first request of a client starts its window, and the count goes back to
zero when the window ends. A request costs one Redis call, counting it (the new count says
what is left). A fixed window never moves, so when it ends is asked of Redis only by the first
request a process sees in a window that it did not open itself; the process remembers it.

If Redis does not answer, requests pass (fail open) and a warning is logged: a busy studio
losing its customers to a cache outage is worse than a burst getting through for a while, and
the holds limit in `booking` still caps what a burst can hold."""
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from nameko.extensions import DependencyProvider

from gateway.client_ip import client_ip
from gateway.errors import RateLimited

log = logging.getLogger(__name__)

# Window ends remembered per process (the least recently used are forgotten first).
MAX_REMEMBERED_WINDOWS = 10000


@dataclass(frozen=True)
class Allowance:
    """What is left of one limit for one client after this request."""
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self):
        # IETF draft "RateLimit header fields for HTTP": the Reset is seconds from now.
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_seconds)}


class RateLimits:
    """The limits of GATEWAY.rate_limits, counted per (limit name, client IP)."""

    def __init__(self, settings, trusted_proxies=""):
        self.trusted_proxies = trusted_proxies or ""
        self.items = {name: parse(text) for name, text in settings["per_client_ip"].items()}
        self.retry_seconds = float(settings.get("storage_retry_seconds", 5))
        timeout = float(settings.get("storage_timeout_seconds", 0.5))
        self.storage = storage_from_string(
            settings["storage_url"], key_prefix=settings["key_prefix"], wrap_exceptions=True,
            socket_connect_timeout=timeout, socket_timeout=timeout)
        self._storage_down_until = 0.0
        self._window_ends = OrderedDict()   # key -> when its window ends (epoch seconds)

    def hit(self, name, request):
        """Count this request against limit `name`; raise RateLimited past the limit. Returns
        the Allowance left, or None when the counts cannot be had (the request passes)."""
        if time.monotonic() < self._storage_down_until:
            return None
        item = self.items[name]
        ip = client_ip(request, self.trusted_proxies)
        try:
            key = item.key_for(name, ip)
            count = self.storage.incr(key, item.get_expiry())
            reset_time = self._window_end(key, count, item.get_expiry())
        except StorageError as exc:
            self._storage_down_until = time.monotonic() + self.retry_seconds
            log.warning("rate limits not applied for %.0f s: their store does not answer (%s)",
                        self.retry_seconds, exc.storage_error)
            return None
        allowance = Allowance(item.amount, max(0, item.amount - count),
                              max(0, math.ceil(reset_time - time.time())))
        if count > item.amount:
            retry_after = max(1, allowance.reset_seconds)
            raise RateLimited(
                f"Too many requests from {ip}; try again in {retry_after} s.",
                {"limit": item.amount, "window": str(item), "retry_after_seconds": retry_after},
                headers={**allowance.headers(), "Retry-After": str(retry_after)})
        return allowance

    def _window_end(self, key, count, window_seconds):
        """When the window of `key` ends: now + its length when this request opened it, else
        as remembered, else as Redis says (the window's first request came to another
        process, or the remembered one is over)."""
        now = time.time()
        end = now + window_seconds if count == 1 else self._window_ends.get(key, 0.0)
        if end <= now:
            end = self.storage.get_expiry(key)
        self._window_ends[key] = end
        self._window_ends.move_to_end(key)
        if len(self._window_ends) > MAX_REMEMBERED_WINDOWS:
            self._window_ends.popitem(last=False)
        return end


class RateLimiter(DependencyProvider):
    """The gateway's RateLimits, built once from GATEWAY: in config."""

    def setup(self):
        settings = self.container.config["GATEWAY"]
        self.limits = RateLimits(settings["rate_limits"], settings.get("trusted_proxies"))

    def get_dependency(self, worker_ctx):
        return self.limits
