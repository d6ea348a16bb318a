"""Live status of a booking: Server-Sent Events from `GET /api/bookings/<id>/events`.

Why SSE and not nameko's WebSocket hub: the updates only flow one way; an SSE stream is a
plain `@http` response that authorizes like every other endpoint (nameko's hub has one fixed
path and no auth hook); browsers reconnect by themselves and send `Last-Event-ID`; and it
passes proxies as ordinary HTTP.

Each gateway process has its own broadcast queue (exclusive, auto-delete: `BROADCAST`,
`reliable_delivery=False`) bound to the events a customer watches, and fans each event out to
the streams of that booking open in this process. A stream starts with the booking's current
state, so nothing is missed across a dropped connection; a reconnect with `Last-Event-ID` also
gets this process's recent events of the booking after that id (a declined payment leaves no
trace in the booking's state). A stream holds no worker: it runs after the worker has ended,
so it touches no database session or RPC. Idle streams get a heartbeat comment, which is also
how a closed connection is noticed. Caps per booking (429) and per process (503).
"""
import collections
import json
import logging

from eventlet.queue import Empty, LightQueue
from nameko.events import BROADCAST, EventHandler
from nameko.extensions import DependencyProvider, SharedExtension

from gateway.errors import LiveStreamsFull, TooManyStreams
from services.common import metrics

log = logging.getLogger(__name__)

# What the booking page shows as it happens.
LIVE_EVENTS = (
    ("booking", "booking.created"),      # for the dashboard's schedule
    ("booking", "booking.confirmed"),
    ("booking", "booking.payment_recorded"),
    ("booking", "booking.cancelled"),
    ("booking", "booking.rescheduled"),
    ("booking", "booking.expired"),
    ("booking", "hall.blocked"),         # the dashboard's schedule
    ("booking", "hall.unblocked"),
    ("payments", "payment.succeeded"),
    ("payments", "payment.failed"),
    ("payments", "payment.refunded"),
)
RETRY_MILLISECONDS = 2000
HEARTBEAT = b": heartbeat\n\n"
# A reader this far behind is cut off; its browser reconnects and gets the current state.
MAX_PENDING_MESSAGES = 100
# Bookings whose recent events are kept for Last-Event-ID (the oldest are forgotten first).
MAX_REMEMBERED_BOOKINGS = 10000
# The key of the operators' streams, which get every booking's events.
EVERY_BOOKING = "*"


def sse_message(event, data, event_id=None):
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


class Subscription:
    """One open stream: what it replays first and a queue of what comes after."""

    def __init__(self, booking_id, replay):
        self.booking_id = booking_id
        self.replay = replay
        self.queue = LightQueue()
        self.cut_off = False

    def deliver(self, message):
        if self.cut_off:
            return
        if self.queue.qsize() >= MAX_PENDING_MESSAGES:
            self.cut_off = True
            message = None   # ends the stream
        self.queue.put(message)


class Hub:
    """The streams open in this process, by booking, and each booking's recent events."""

    def __init__(self, max_streams, max_streams_per_booking, replay_events):
        self.max_streams = max_streams
        self.max_streams_per_booking = max_streams_per_booking
        self.replay_events = replay_events
        self.streams = collections.defaultdict(set)
        self.open_count = 0
        self.recent = collections.OrderedDict()   # booking id -> deque of (event id, message)

    def open(self, booking_id, last_event_id=None):
        """A new subscription; raises LiveStreamsFull (503) or TooManyStreams (429)."""
        if self.open_count >= self.max_streams:
            raise LiveStreamsFull("This server holds as many live streams as it can; "
                                  "try again in a minute.", {"limit": self.max_streams})
        if booking_id != EVERY_BOOKING and (
                len(self.streams.get(booking_id, ())) >= self.max_streams_per_booking):
            raise TooManyStreams("This booking already has too many live streams open.",
                                 {"limit": self.max_streams_per_booking})
        subscription = Subscription(booking_id, self._after(booking_id, last_event_id))
        self.streams[booking_id].add(subscription)
        self.open_count += 1
        return subscription

    def close(self, subscription):
        streams = self.streams.get(subscription.booking_id)
        if streams is None or subscription not in streams:
            return
        streams.discard(subscription)
        self.open_count -= 1
        if not streams:
            del self.streams[subscription.booking_id]

    def publish(self, envelope):
        booking_id = str((envelope.get("payload") or {}).get("booking_id") or "")
        message = sse_message(envelope["type"], {
            "type": envelope["type"], "occurred_at": envelope.get("occurred_at"),
            "payload": envelope["payload"]}, envelope["event_id"])
        if not booking_id:   # hall.blocked and the like: for the dashboard's stream alone
            for subscription in list(self.streams.get(EVERY_BOOKING, ())):
                subscription.deliver(message)
            return
        recent = self.recent.pop(booking_id, None) or collections.deque(
            maxlen=self.replay_events)
        recent.append((envelope["event_id"], message))
        self.recent[booking_id] = recent
        while len(self.recent) > MAX_REMEMBERED_BOOKINGS:
            self.recent.popitem(last=False)
        for subscription in [*self.streams.get(booking_id, ()),
                             *self.streams.get(EVERY_BOOKING, ())]:
            subscription.deliver(message)

    def _after(self, booking_id, last_event_id):
        """Recent messages after `last_event_id`; none when it is unknown here (the state
        the stream starts with covers the booking then)."""
        if not last_event_id:
            return []
        recent = list(self.recent.get(booking_id, ()))
        ids = [event_id for event_id, _ in recent]
        if last_event_id not in ids:
            return []
        return [message for _, message in recent[ids.index(last_event_id) + 1:]]


class EventStream:
    """The body of one SSE response: state, replay, then live messages and heartbeats.
    werkzeug closes it when the client has gone (seen at the next write)."""

    def __init__(self, hub, subscription, state, heartbeat_seconds):
        self.hub = hub
        self.subscription = subscription
        self.state = state
        self.heartbeat_seconds = heartbeat_seconds

    def __iter__(self):
        yield f"retry: {RETRY_MILLISECONDS}\n".encode() + sse_message("state", self.state)
        yield from self.subscription.replay
        while True:
            try:
                message = self.subscription.queue.get(timeout=self.heartbeat_seconds)
            except Empty:
                yield HEARTBEAT
                continue
            if message is None:
                return
            yield message

    def close(self):
        self.hub.close(self.subscription)


class LiveStreams(SharedExtension):
    """This process's Hub and its settings: one per container, shared by the endpoints (as a
    dependency) and the event handlers."""

    def setup(self):
        config = self.container.config
        settings = config["GATEWAY"]
        self.secure_cookies = str(config.get("PUBLIC_URL", "")).startswith("https:")
        self.heartbeat_seconds = float(settings.get("live_heartbeat_seconds", 15))
        self.ticket_seconds = int(settings.get("live_ticket_seconds", 300))
        self.hub = Hub(int(settings.get("live_max_streams", 5000)),
                       int(settings.get("live_max_streams_per_booking", 8)),
                       int(settings.get("live_replay_events", 20)))
        metrics.LIVE_STREAMS.set_function(lambda: self.hub.open_count)


class LiveHub(DependencyProvider):
    streams = LiveStreams()

    def get_dependency(self, worker_ctx):
        return self.streams


class LiveEventHandler(EventHandler):
    """A broadcast handler that hands each event straight to the Hub, without a worker: the
    fan-out is a few queue puts, and the gateway's workers stay free for HTTP. Its queue is
    consumed without acknowledgements: the queue is this process's own and keeps nothing once
    the process is gone, so an ack would guard nothing (a stream that misses an event starts
    again from the booking's state when its browser reconnects)."""

    streams = LiveStreams()

    def setup(self):
        super().setup()
        self.queue.no_ack = True

    def handle_message(self, body, message):
        try:
            self.streams.hub.publish(body)
        except Exception:   # a malformed event must not stop the stream of the others
            log.exception("live: could not fan out %r", body)


def live_events(method):
    """Subscribe this process's own queue (exclusive, auto-delete: nothing is kept while no
    process listens) to every LIVE_EVENTS type; the events go to the Hub. The method itself
    is never called."""
    for source, event_type in LIVE_EVENTS:
        method = LiveEventHandler.decorator(source, event_type, handler_type=BROADCAST,
                                            reliable_delivery=False)(method)
    return method


def stream_response_environ(request):
    # eventlet otherwise buffers 4 KB before writing: a state message would wait.
    request.environ["eventlet.minimum_write_chunk_size"] = 0

