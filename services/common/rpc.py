"""RPC between our services: requests and replies that neither hit the disk nor wait for the
broker's confirm, and calls that give up in time.

RPC requests and replies die with their caller anyway, so they are sent non-persistent
(measured: it doubles booking throughput on this machine) and without publisher confirms (a
confirm was a third of the gateway's CPU): a request or reply the broker loses ends in the
caller's timeout (ServiceUnavailable), the same as a service that does not answer; for the same
reason replies are taken without acknowledgements. Requests are still acknowledged after they are
handled (a service that dies mid-request leaves it to another process). Events stay persistent
and confirmed (the outbox relay).
"""
import functools
import inspect
import logging
import time

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import NotFound
from kombu import Connection
from kombu.exceptions import OperationalError
from nameko.amqp.publish import Publisher
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import IncorrectSignature, registry
from nameko.messaging import QueueConsumer
from nameko.rpc import (
    RPC_QUEUE_TEMPLATE,
    MethodProxy,
    ReplyListener,
    Responder,
    Rpc,
    RpcConsumer,
    RpcProxy,
    get_rpc_exchange,
)

import contracts.errors  # noqa: F401  (every error a service raises across RPC)
from contracts.errors.base import ERRORS, ServiceUnavailable, StudioError
from services.common import metrics, tracing
from services.common.heap import FrozenStartupHeap
from services.common.production import ProductionSecrets

log = logging.getLogger(__name__)

# A caller gets a service's error back as its own type (BookingNotFound), not a RemoteError.
registry.update(ERRORS)


def _survives_a_lost_connection(method):
    """nameko acks (and requeues) on a connection that may have died under it: it ignores
    amqp's ConnectionError there, but not the socket's own (reset, broken pipe), and then kills
    the whole container. A broker restart must not take the services down: the broker takes
    back every unacknowledged message of a dead connection anyway, and redelivers it."""

    @functools.wraps(method)
    def call(self, message):
        try:
            return method(self, message)
        except OSError as exc:
            log.warning("%s: the connection is gone (%s); the broker redelivers the message",
                        method.__name__, exc)

    return call


# Every consumer of a container (RPC, events, RPC replies) shares its QueueConsumer.
QueueConsumer.ack_message = _survives_a_lost_connection(QueueConsumer.ack_message)
QueueConsumer.requeue_message = _survives_a_lost_connection(QueueConsumer.requeue_message)


class _TransientPublisher(Publisher):
    delivery_mode = NON_PERSISTENT
    use_confirms = False

    def publish(self, payload, **kwargs):
        # nameko asks for `mandatory` to detect an unknown service, which only works with a
        # confirm to wait for; without one the broker's return would arrive unasked.
        kwargs["mandatory"] = False
        super().publish(payload, **kwargs)


class _TransientMethodProxy(MethodProxy):
    publisher_cls = _TransientPublisher


# Services whose request queue this process has seen: (broker URI, service name).
_SERVICES_SEEN = set()


def _check_service_exists(amqp_uri, service_name):
    """nameko learns of a service that never ran from the broker's return of a mandatory
    request, which needs a confirm; without one we ask once instead: a service whose queue
    exists has run, and a request to it waits there (or expires) like any other."""
    if (amqp_uri, service_name) in _SERVICES_SEEN:
        return
    with Connection(amqp_uri) as connection:
        try:
            connection.default_channel.queue_declare(
                queue=RPC_QUEUE_TEMPLATE.format(service_name), passive=True)
        except NotFound:
            raise ServiceUnavailable(f"{service_name} is not running",
                                     {"service": service_name})
    _SERVICES_SEEN.add((amqp_uri, service_name))


class _TransientResponder(Responder):
    publisher_cls = _TransientPublisher


class _TransientRpcConsumer(RpcConsumer):
    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _TransientResponder(
            config["AMQP_URI"], get_rpc_exchange(config), config.get("serializer", "json"),
            message, ssl=config.get("AMQP_SSL"), login_method=config.get("LOGIN_METHOD"))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except (OperationalError, AmqpConnectionError, OSError) as exc:
            # The broker went away while we answered. nameko would kill the whole container
            # over it; the caller gives up by its own timeout instead (TimedRpcProxy) and
            # retries, so the service stays up and reconnects when the broker is back.
            log.warning("the reply to %s is lost, the broker is away: %s",
                        message.properties.get("reply_to"), exc)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class _TransientRpc(Rpc):
    rpc_consumer = _TransientRpcConsumer()

    def __init__(self, expected_exceptions=(StudioError,), **kwargs):
        # Errors a caller can act on are answers, not faults: not logged as errors.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    @functools.cached_property
    def _signature(self):
        return inspect.signature(getattr(self.container.service_cls, self.method_name))

    def check_signature(self, args, kwargs):
        """As nameko's, but the method's signature is read once: nameko inspects it anew on
        every call (inspect.getcallargs), about 3 % of a service's CPU per request."""
        try:
            self._signature.bind(None, *args, **kwargs)   # None: the unbound method's self
        except TypeError as exc:
            raise IncorrectSignature(f"{self.method_name}(): {exc}") from None


rpc = _TransientRpc.decorator


class _UnacknowledgedReplies(ReplyListener):
    """Replies are taken without acknowledgements: like a reply the broker loses, one lost
    on a connection that dies as it arrives ends in the caller's timeout. (nameko's ack of
    each reply becomes a no-op for such a consumer.)"""

    def setup(self):
        super().setup()
        self.queue.no_ack = True


class TimedRpcProxy(RpcProxy):
    """An RpcProxy whose calls raise ServiceUnavailable after `timeout` seconds (default:
    GATEWAY.rpc_timeout_seconds). The request expires in the queue at the same moment, so a
    service that comes back later does not act on a request whose caller has given up."""

    rpc_reply_listener = _UnacknowledgedReplies()

    def __init__(self, target_service, timeout=None):
        super().__init__(target_service, delivery_mode=NON_PERSISTENT)
        self.timeout = timeout

    def setup(self):
        if self.timeout is None:
            self.timeout = float(self.container.config["GATEWAY"]["rpc_timeout_seconds"])
        self.options["expiration"] = self.timeout
        super().setup()

    def get_dependency(self, worker_ctx):
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  self.timeout)


class _TimedServiceProxy:
    def __init__(self, proxy, service_name, timeout):
        self._proxy = proxy
        self._service_name = service_name
        self._timeout = timeout

    def __getattr__(self, method_name):
        proxy = self._proxy
        tracing.stamp(proxy.worker_ctx)      # the call carries the id of what causes it
        method = _TransientMethodProxy(proxy.worker_ctx, proxy.service_name, method_name,
                                       proxy.reply_listener, **proxy.options)

        def call(*args, **kwargs):
            timer = eventlet.Timeout(self._timeout)
            started, outcome = time.perf_counter(), "error"
            try:
                _check_service_exists(method.amqp_uri, self._service_name)
                answer = method(*args, **kwargs)
                outcome = "ok"
                return answer
            except eventlet.Timeout as exc:
                if exc is not timer:
                    raise
                outcome = "timeout"
                raise ServiceUnavailable(f"{self._service_name} did not answer in time",
                                         {"service": self._service_name})
            finally:
                timer.cancel()
                metrics.RPC_CALLS.labels(self._service_name, method_name, outcome).inc()
                metrics.RPC_CALL_SECONDS.labels(self._service_name, method_name).observe(
                    time.perf_counter() - started)

        return call


class Pingable:
    """Mixin of every service: the `ping` RPC the gateway's /health calls, no start in
    production on a default secret, every worker under its call's correlation id, and the
    objects alive at start kept out of the garbage collector's full passes."""

    production_secrets = ProductionSecrets()
    tracing = tracing.Tracing()
    metrics = metrics.Metrics()
    startup_heap = FrozenStartupHeap()

    @rpc
    def ping(self):
        """Answers "pong" while the service is up."""
        return "pong"
