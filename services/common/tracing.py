"""One id through every hop: the request id an HTTP request comes with (X-Request-ID) or gets,
carried as the correlation id through each RPC (nameko sends `worker_ctx.data` as AMQP headers
`nameko.<key>` and restores it on the other side), into every event's envelope
(`correlation_id`, stored with the outbox row) and from a handled event into the RPCs and
events it causes. So one id finds a webhook's confirmation, its messages and its refund.

The id of the running worker lives in a context variable (greenlets have one context each):
`Tracing` sets it as a worker starts, the inbox while it handles an event, and the RPC proxy
and the outbox read it. `CorrelationFilter` puts it on every log record.
"""
import contextlib
import contextvars
import logging
import re
import uuid

from nameko.extensions import DependencyProvider

CONTEXT_KEY = "correlation_id"
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain (it lands in logs, headers and rows).
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_current = contextvars.ContextVar(CONTEXT_KEY, default=None)


def current():
    """The correlation id of what runs now, or None."""
    return _current.get()


def accept(given):
    """The caller's request id if it is well formed, else a new one."""
    given = (given or "").strip()
    return given if _WELL_FORMED.match(given) else uuid.uuid4().hex


@contextlib.contextmanager
def continuing(correlation_id):
    """Run a block under `correlation_id` (an event's), then go back to the one before."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def stamp(worker_ctx):
    """Put the current id where nameko sends it along with an RPC call."""
    correlation_id = current()
    if correlation_id is not None:
        worker_ctx.data[CONTEXT_KEY] = correlation_id


class Tracing(DependencyProvider):
    """Every worker of the service runs under the correlation id its call came with."""

    def worker_setup(self, worker_ctx):
        _current.set(self.correlation_id_of(worker_ctx))

    def correlation_id_of(self, worker_ctx):
        return worker_ctx.data.get(CONTEXT_KEY)


class CorrelationFilter(logging.Filter):
    """Adds `correlation_id` ("-" when none) to each record, for the log format."""

    def filter(self, record):
        record.correlation_id = current() or "-"
        return True
