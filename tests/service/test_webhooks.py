"""Outbound webhooks against a real PostgreSQL database of their own and a local receiver that
verifies signatures with the Standard Webhooks package; the clock is in the test's hand."""
import ipaddress
import json
import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy
import urllib3
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.errors.base import IdempotencyKeyReused, InvalidRequest
from contracts.events import make_envelope
from services.integration import store, webhook_http, webhooks
from services.integration.webhook_rules import SecretBox, WebhookSettings
from tests.databases import own_database
from tests.fakes.webhook_receiver import WebhookReceiver

SETTINGS = WebhookSettings(http_allowed_hosts=frozenset({"127.0.0.1"}),
                           allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
                           retry_schedule=(10, 60, 600), jitter=0.0, timeout=5,
                           excerpt_chars=100)
START = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def engine(config):
    # Its own database: the running system's courier must not send these deliveries.
    with own_database(config, "integration", "webhooks") as engine:
        yield engine


@pytest.fixture
def session(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE webhook_deliveries, webhook_endpoints, event_log, outbox, "
                          "inbox"))
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


def register(session, receiver, event_types=("booking.*",), **extra):
    endpoint = webhooks.register_endpoint(session, SETTINGS, {
        "url": receiver.url + "/hooks", "event_types": list(event_types), **extra}, START)
    session.commit()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def booking_event(event_type="booking.confirmed", booking_id=None):
    return make_envelope("booking", event_type, {
        "booking_id": booking_id or str(uuid.uuid4()), "hall_id": 1, "hall_name": "Белый зал",
        "status": event_type.split(".")[1], "customer": {"name": "Анна", "phone": "+7999"}})


def enqueue(session, envelope, now=START):
    added = webhooks.enqueue(session, [envelope], now)
    session.commit()
    return added


def send_due(session, now, settings=SETTINGS, post=webhook_http.post):
    """One round of the courier at `now`: claim, send (signed at the real time, as the
    courier does), record."""
    claims = webhooks.claim_due(session, SETTINGS, now, 100)
    session.commit()
    for claim in claims:
        answer = webhooks.deliver(claim, settings, datetime.now(timezone.utc), post=post)
        webhooks.record_outcome(session, settings, claim, answer, now)
        session.commit()
    return claims


def deliveries(session, endpoint):
    return webhooks.list_deliveries(session, endpoint["id"], {})["items"]


def outbox(session, event_type):
    return [r.envelope for r in session.execute(text(
        "SELECT envelope FROM outbox WHERE type = :t ORDER BY id"), {"t": event_type})]


# --- fan-out ----------------------------------------------------------------------------------

def test_an_event_becomes_one_signed_delivery_per_endpoint_that_wants_it(session, receiver):
    bookings = register(session, receiver, ["booking.*"])
    register(session, receiver, ["payment.*"])
    event = booking_event()
    assert enqueue(session, event) == 1
    assert enqueue(session, event) == 0          # the same event again: nothing more

    send_due(session, START)
    [request] = receiver.requests
    assert request["verified_with"] == [bookings["secret"]]
    assert request["headers"]["webhook-id"] == event["event_id"]
    assert request["path"] == "/hooks"
    body = json.loads(request["body"])
    assert body["type"] == "booking.confirmed" and body["event_id"] == event["event_id"]
    assert "customer" not in body["payload"]     # not trusted with personal data
    [delivery] = deliveries(session, bookings)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == \
        ("delivered", 1, 200)


def test_a_batch_of_events_is_fanned_out_in_one_go_each_event_to_the_endpoints_that_want_it(
        session, receiver):
    bookings = register(session, receiver, ["booking.*"])
    everything = register(session, receiver, ["*"])
    confirmed, paid = booking_event(), make_envelope("payments", "payment.succeeded", {
        "payment_id": str(uuid.uuid4()), "booking_id": str(uuid.uuid4()), "amount": 100})
    assert webhooks.enqueue(session, [confirmed, paid], START) == 3
    assert webhooks.enqueue(session, [confirmed, paid, booking_event()], START) == 2  # the new one
    session.commit()
    assert sorted(d["event_type"] for d in deliveries(session, everything)) == \
        ["booking.confirmed", "booking.confirmed", "payment.succeeded"]
    assert [d["event_type"] for d in deliveries(session, bookings)] == \
        ["booking.confirmed", "booking.confirmed"]
    assert webhooks.enqueue(session, [], START) == 0


def log_and_enqueue(session, envelope):
    """As the integration service does: the event logged, then its deliveries queued, in one
    transaction."""
    store.save_entry(session, envelope, "logged")
    added = webhooks.enqueue(session, [envelope], START)
    session.commit()
    return added


def endpoint_reads(statements):
    return [s for s in statements if re.search(r"FROM webhook_endpoints\b", s)]


def test_the_endpoints_are_read_again_only_when_their_stamp_moves(engine, session, receiver):
    looks = []
    listen = lambda conn, cursor, statement, *rest: looks.append(statement)  # noqa: E731
    sqlalchemy.event.listen(engine, "before_cursor_execute", listen)
    try:
        first = register(session, receiver, ["booking.*"])
        assert log_and_enqueue(session, booking_event()) == 1
        looks.clear()
        assert log_and_enqueue(session, booking_event()) == 1
        assert not endpoint_reads(looks)  # kept

        second = register(session, receiver, ["booking.*"])  # a new endpoint: a new stamp
        assert log_and_enqueue(session, booking_event()) == 2
        # changed by hand, not by the service: the trigger stamps it all the same
        session.execute(text("UPDATE webhook_endpoints SET active = false WHERE id = :id"),
                        {"id": first["id"]})
        session.commit()
        assert log_and_enqueue(session, booking_event()) == 1
        session.execute(text("UPDATE webhook_endpoints SET event_types = '[\"payment.*\"]' "
                             "WHERE id = :id"), {"id": second["id"]})
        session.commit()
        assert log_and_enqueue(session, booking_event()) == 0
        # what the couriers write of an endpoint's failures changes nothing it is queued for
        looks.clear()
        session.execute(text("UPDATE webhook_endpoints SET failing_since = now()"))
        session.commit()
        assert log_and_enqueue(session, booking_event()) == 0
        assert not endpoint_reads(looks)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", listen)


def test_an_endpoint_trusted_with_personal_data_gets_the_customer(session, receiver):
    register(session, receiver, ["*"], include_personal_data=True)
    enqueue(session, booking_event())
    send_due(session, START)
    assert json.loads(receiver.requests[0]["body"])["payload"]["customer"]["name"] == "Анна"


def test_a_receiver_failing_twice_then_succeeding_gets_exactly_one_successful_delivery(
        session, receiver):
    endpoint = register(session, receiver)
    receiver.answer_next(500, (503, b"busy", {}))
    event = booking_event()
    enqueue(session, event)

    send_due(session, START)
    assert send_due(session, START + timedelta(seconds=5)) == []      # not due yet
    send_due(session, START + timedelta(seconds=11))                   # second try
    [delivery] = deliveries(session, endpoint)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"],
            delivery["last_response"]) == ("pending", 2, 503, "busy")
    send_due(session, START + timedelta(seconds=80))                   # third: 200

    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {event["event_id"]}
    assert len(receiver.delivered()) == 1
    [delivery] = deliveries(session, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    assert send_due(session, START + timedelta(days=1)) == []
    assert webhooks.get_endpoint(session, endpoint["id"])["failing_since"] is None


def test_after_the_last_try_a_delivery_fails_and_others_still_go(session, receiver):
    endpoint = register(session, receiver)
    receiver.answer_next(500, 500, 500, 500)
    enqueue(session, booking_event())
    for seconds in (0, 11, 80, 700):
        send_due(session, START + timedelta(seconds=seconds))
    [delivery] = deliveries(session, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 4)
    assert webhooks.get_endpoint(session, endpoint["id"])["active"]
    enqueue(session, booking_event())
    send_due(session, START + timedelta(seconds=800))
    assert len(receiver.delivered()) == 1


def test_410_gone_disables_the_endpoint_and_the_studio_is_told(session, receiver):
    endpoint = register(session, receiver)
    receiver.answer_next(410)
    enqueue(session, booking_event())
    send_due(session, START)

    shown = webhooks.get_endpoint(session, endpoint["id"])
    assert not shown["active"] and "410" in shown["disabled_reason"]
    [alert] = outbox(session, "webhook.endpoint_disabled")
    assert alert["payload"]["endpoint_id"] == endpoint["id"]
    assert store.load_entry(session, alert["event_id"]).type == "webhook.endpoint_disabled"
    assert deliveries(session, endpoint)[0]["status"] == "failed"
    assert enqueue(session, booking_event()) == 0       # a disabled endpoint gets nothing new
    assert len(receiver.requests) == 1


def test_an_endpoint_failing_for_days_is_disabled_and_its_deliveries_wait(session, receiver):
    endpoint = register(session, receiver)
    receiver.answer_next(500, 500)
    enqueue(session, booking_event())
    send_due(session, START)
    send_due(session, START + timedelta(days=3, seconds=11))

    shown = webhooks.get_endpoint(session, endpoint["id"])
    assert not shown["active"] and "failed since" in shown["disabled_reason"]
    assert len(outbox(session, "webhook.endpoint_disabled")) == 1
    assert send_due(session, START + timedelta(days=4)) == []          # it waits
    webhooks.update_endpoint(session, SETTINGS, endpoint["id"], {"active": True}, START)
    session.commit()
    send_due(session, START + timedelta(days=4))
    assert len(receiver.delivered()) == 1


def test_a_bookings_deliveries_go_in_order(session, receiver):
    endpoint = register(session, receiver)
    booking_id = str(uuid.uuid4())
    first, second = booking_event("booking.created", booking_id), \
        booking_event("booking.confirmed", booking_id)
    other = booking_event("booking.created")
    receiver.answer_next(500)
    for event in (first, second, other):
        enqueue(session, event)

    send_due(session, START)          # first fails; second waits behind it; other goes
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == \
        [first["event_id"], other["event_id"]]
    send_due(session, START + timedelta(seconds=11))
    send_due(session, START + timedelta(seconds=12))
    assert [r["headers"]["webhook-id"] for r in receiver.delivered()] == \
        [other["event_id"], first["event_id"], second["event_id"]]
    assert {d["status"] for d in deliveries(session, endpoint)} == {"delivered"}


# --- secrets ----------------------------------------------------------------------------------

def test_during_a_secret_rotation_both_signatures_are_sent(session, receiver):
    endpoint = register(session, receiver)
    rotated = webhooks.rotate_secret(session, SETTINGS, endpoint["id"], START,
                                     overlap_hours=1)
    session.commit()
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]
    receiver.secrets.append(rotated["secret"])
    enqueue(session, booking_event())
    send_due(session, START + timedelta(minutes=30))
    [during] = receiver.requests
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    assert set(during["verified_with"]) == {endpoint["secret"], rotated["secret"]}

    enqueue(session, booking_event())
    send_due(session, START + timedelta(hours=2))
    assert receiver.requests[1]["verified_with"] == [rotated["secret"]]
    assert "secret" not in webhooks.get_endpoint(session, endpoint["id"])


def test_secrets_are_kept_sealed_and_a_reseal_moves_them_to_a_new_key(session, receiver):
    endpoint = register(session, receiver)
    rotated = webhooks.rotate_secret(session, SETTINGS, endpoint["id"], START, overlap_hours=1)
    session.commit()
    stored = session.execute(text("SELECT secret, previous_secret FROM webhook_endpoints "
                                  "WHERE id = :id"), {"id": endpoint["id"]}).one()
    assert all(value.startswith("sealed:") for value in stored)
    assert rotated["secret"] not in stored.secret and endpoint["secret"] not in stored.previous_secret

    new_key = replace(SETTINGS, secret_box=SecretBox(("new-key", *SETTINGS.secret_box.keys)))
    assert webhooks.reseal_secrets(session, new_key) >= 1
    session.commit()
    only_new = SecretBox(("new-key",))
    resealed = session.execute(text("SELECT secret, previous_secret FROM webhook_endpoints "
                                    "WHERE id = :id"), {"id": endpoint["id"]}).one()
    assert only_new.open(resealed.secret) == rotated["secret"]
    assert only_new.open(resealed.previous_secret) == endpoint["secret"]
    # and back under the module's key, for the endpoints the other tests still send to
    webhooks.reseal_secrets(session, replace(SETTINGS, secret_box=SecretBox(
        (*SETTINGS.secret_box.keys, "new-key"))))
    session.commit()


def test_registering_validates_urls_and_patterns_and_is_idempotent(session, receiver):
    for url in ("https://10.0.0.1/hooks", "https://169.254.169.254/latest",
                "http://crm.example.com/hooks"):
        with pytest.raises(InvalidRequest) as refused:
            webhooks.register_endpoint(session, SETTINGS, {"url": url,
                                                           "event_types": ["*"]}, START)
        assert "url" in refused.value.details
    with pytest.raises(InvalidRequest) as refused:
        webhooks.register_endpoint(session, SETTINGS, {"url": receiver.url,
                                                       "event_types": ["Booking"]}, START)
    assert "event_types" in refused.value.details

    data = {"url": receiver.url + "/crm", "event_types": ["booking.*"]}
    first = webhooks.register_endpoint(session, SETTINGS, data, START, request_id="k-1")
    again = webhooks.register_endpoint(session, SETTINGS, data, START, request_id="k-1")
    assert again == first and len(webhooks.list_endpoints(session)) == 1
    with pytest.raises(IdempotencyKeyReused):
        webhooks.register_endpoint(session, SETTINGS, {**data, "event_types": ["*"]}, START,
                                   request_id="k-1")


# --- SSRF and the receiver's answers -----------------------------------------------------------

@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test if anything tries to open a connection."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    monkeypatch.setattr(urllib3.connection.connection, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("url", ["https://10.0.0.1/hooks", "http://169.254.169.254/latest",
                                 "https://[fd00:ec2::254]/"])
def test_private_and_metadata_addresses_are_refused_without_a_connection(url, no_connections):
    answer = webhook_http.post(url, "{}", {}, SETTINGS)
    assert answer.status_code is None and answer.error.startswith("refused, not sent")
    assert no_connections == []


def test_a_name_that_resolves_to_a_private_address_is_refused(session, receiver,
                                                              no_connections):
    endpoint = webhooks.register_endpoint(session, SETTINGS, {
        "url": "https://crm.studio.test/hooks", "event_types": ["*"]}, START)
    session.commit()
    enqueue(session, booking_event())

    def rebinding(host, port):
        assert host == "crm.studio.test"
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]

    def post(url, body, headers, settings):
        return webhook_http.post(url, body, headers, settings, resolve=rebinding)

    send_due(session, START, post=post)
    [delivery] = deliveries(session, endpoint)
    assert delivery["status"] == "pending" and "10.0.0.1" in delivery["last_error"]
    assert no_connections == []


def test_redirects_are_not_followed_and_answers_are_read_only_in_part(session, receiver):
    endpoint = register(session, receiver)
    receiver.answer_next((302, b"", {"Location": receiver.url + "/elsewhere"}),
                         (200, b"x" * 1_000_000, {}))
    enqueue(session, booking_event())
    send_due(session, START)
    assert [r["path"] for r in receiver.requests] == ["/hooks"]
    [delivery] = deliveries(session, endpoint)
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", 302)

    send_due(session, START + timedelta(seconds=11))
    [delivery] = deliveries(session, endpoint)
    assert delivery["status"] == "delivered" and len(delivery["last_response"]) == 100


def test_a_closed_port_is_a_failed_try(session):
    endpoint = webhooks.register_endpoint(session, SETTINGS, {
        "url": "http://127.0.0.1:9/hooks", "event_types": ["*"]}, START)
    session.commit()
    enqueue(session, booking_event())
    send_due(session, START)
    [delivery] = deliveries(session, endpoint)
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert "Connection" in delivery["last_error"] or "refused" in delivery["last_error"]


# --- the operator's tools ---------------------------------------------------------------------

def test_resend_and_replay_since(session, receiver):
    endpoint = register(session, receiver)
    old, recent = booking_event(), booking_event()
    old["occurred_at"] = (START - timedelta(days=2)).isoformat()
    for event in (old, recent, make_envelope("payments", "payment.failed", {})):
        store.save_entry(session, event, "logged")
        enqueue(session, event)
    send_due(session, START)
    assert len(receiver.delivered()) == 2

    [newest, _] = deliveries(session, endpoint)
    assert webhooks.resend(session, newest["id"], START)["status"] == "pending"
    session.commit()
    send_due(session, START)
    assert receiver.requests[-1]["headers"]["webhook-id"] == newest["event_id"]

    replay = webhooks.replay_since(session, endpoint["id"],
                                   (START - timedelta(days=3)).isoformat(), START)
    session.commit()
    assert replay == {"endpoint_id": endpoint["id"], "queued": 2}     # not payment.failed
    send_due(session, START)
    assert [r["headers"]["webhook-id"] for r in receiver.requests[-2:]] == \
        [old["event_id"], recent["event_id"]]
    page = webhooks.list_deliveries(session, endpoint["id"], {"limit": 1})
    assert len(page["items"]) == 1 and page["next_cursor"]
