"""The live hub of one gateway process (fan-out, replay, caps) and the signed booking keys."""
import uuid

import pytest

from gateway.errors import LiveStreamsFull, TooManyStreams
from gateway.live import MAX_PENDING_MESSAGES, EventStream, Hub, sse_message
from services.common.booking_links import (
    DEFAULT_SECRET,
    is_link_token,
    is_live_ticket,
    link_token,
    live_ticket,
    secret_from_config,
)


def envelope(booking_id, event_type="booking.confirmed", **payload):
    return {"event_id": str(uuid.uuid4()), "type": event_type, "version": 1,
            "occurred_at": "2026-12-03T10:00:00+00:00", "source": "booking",
            "payload": {"booking_id": booking_id, "status": "confirmed", **payload}}


def drain(subscription):
    messages = []
    while not subscription.queue.empty():
        messages.append(subscription.queue.get())
    return messages


@pytest.fixture
def hub():
    return Hub(max_streams=5, max_streams_per_booking=2, replay_events=3)


def test_an_event_reaches_every_stream_of_its_booking_and_no_other(hub):
    a1, a2, b = hub.open("A"), hub.open("A"), hub.open("B")
    event = envelope("A")
    hub.publish(event)
    assert drain(a1) == drain(a2) == [sse_message("booking.confirmed", {
        "type": "booking.confirmed", "occurred_at": event["occurred_at"],
        "payload": event["payload"]}, event["event_id"])]
    assert drain(b) == []


def test_a_reconnect_replays_what_came_after_its_last_event_id(hub):
    first, second, third = envelope("A"), envelope("A", "payment.succeeded"), envelope("A")
    for event in (first, second, third):
        hub.publish(event)
    replay = hub.open("A", last_event_id=first["event_id"]).replay
    assert [m.split(b"\n")[0] for m in replay] == [
        f"id: {second['event_id']}".encode(), f"id: {third['event_id']}".encode()]
    assert hub.open("A", last_event_id=third["event_id"]).replay == []


def test_an_unknown_or_forgotten_last_event_id_replays_nothing(hub):
    events = [envelope("A") for _ in range(5)]   # the hub keeps the last 3
    for event in events:
        hub.publish(event)
    assert hub.open("A", last_event_id=events[0]["event_id"]).replay == []
    assert hub.open("A", last_event_id=str(uuid.uuid4())).replay == []


def test_caps_per_booking_then_per_process(hub):
    hub.open("A"), hub.open("A")
    with pytest.raises(TooManyStreams):
        hub.open("A")
    hub.open("B"), hub.open("B"), hub.open("C")
    with pytest.raises(LiveStreamsFull):
        hub.open("D")


def test_a_closed_stream_frees_its_place_once(hub):
    subscription = hub.open("A")
    hub.open("A")
    hub.close(subscription)
    hub.close(subscription)
    assert hub.open_count == 1
    hub.open("A")
    assert hub.open_count == 2


def test_a_reader_too_far_behind_is_cut_off(hub):
    subscription = hub.open("A")
    for _ in range(MAX_PENDING_MESSAGES + 5):
        hub.publish(envelope("A"))
    messages = drain(subscription)
    assert len(messages) == MAX_PENDING_MESSAGES + 1 and messages[-1] is None


def test_events_without_a_booking_are_not_streamed(hub):
    subscription = hub.open("A")
    hub.publish({"event_id": "x", "type": "payment.failed", "payload": {}})
    assert drain(subscription) == [] and "" not in hub.recent


def test_a_stream_says_the_state_first_then_replays_then_beats_when_idle(hub):
    hub.publish(envelope("A"))
    subscription = hub.open("A", last_event_id=None)
    stream = iter(EventStream(hub, subscription, {"id": "A", "status": "pending_payment"},
                              heartbeat_seconds=0.01))
    first = next(stream)
    assert first.startswith(b"retry: 2000\nevent: state\ndata: ")
    assert b'"status":"pending_payment"' in first
    assert next(stream) == b": heartbeat\n\n"
    later = envelope("A")
    hub.publish(later)
    assert next(stream).startswith(f"id: {later['event_id']}".encode())


def test_a_link_token_opens_its_own_booking_only():
    token = link_token("secret", "booking-1")
    assert is_link_token("secret", "booking-1", token)
    assert not is_link_token("secret", "booking-2", token)
    assert not is_link_token("another secret", "booking-1", token)


def test_a_live_ticket_is_for_one_booking_and_a_few_minutes():
    ticket = live_ticket("secret", "booking-1", seconds=300, now=1000)
    assert is_live_ticket("secret", "booking-1", ticket, now=1299)
    assert not is_live_ticket("secret", "booking-1", ticket, now=1301)
    assert not is_live_ticket("secret", "booking-2", ticket, now=1000)
    assert not is_live_ticket("secret", "booking-1", link_token("secret", "booking-1"))
    assert not is_live_ticket("secret", "booking-1", None)


def test_the_default_link_secret_is_refused_in_production():
    assert secret_from_config({}, "mock") == DEFAULT_SECRET
    with pytest.raises(RuntimeError):
        secret_from_config({"BOOKING_LINK_SECRET": DEFAULT_SECRET}, "production")
    assert secret_from_config({"BOOKING_LINK_SECRET": "s3cret"}, "production") == "s3cret"
