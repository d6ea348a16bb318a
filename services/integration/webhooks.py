"""Outbound webhooks, the use cases: operators register endpoints; every event the
integration service consumes becomes, in the same transaction as its inbox record, one
delivery per endpoint that wants it (so once per event and endpoint); a courier
(services.common.courier) sends them after commit, signed per the Standard Webhooks
specification, and retries with backoff and jitter for about a day. Delivery is at least
once: receivers dedupe on the webhook-id header (the event id).

The rules without I/O are in webhook_rules, the HTTP in webhook_http.
"""
import logging
from dataclasses import dataclass
from datetime import timedelta, timezone

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased

from contracts.errors.base import IdempotencyKeyReused, InvalidRequest
from contracts.errors.integration import WebhookDeliveryNotFound, WebhookEndpointNotFound
from contracts.webhooks import (
    CreateWebhookEndpointSchema,
    ReplayWebhooksSchema,
    UpdateWebhookEndpointSchema,
    WebhookDeliveryQuerySchema,
)
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import record_event
from services.common.paging import decode_cursor, page
from services.integration import store, webhook_http, webhook_rules
from services.integration.models import EventLogRow, WebhookDeliveryRow, WebhookEndpointRow

log = logging.getLogger(__name__)

SOURCE = "integration"
WAKE_CHANNEL = "webhooks"
LEASE_SECONDS = 120
REPLAY_LIMIT = 10000


def _iso(moment):
    return iso(moment, timezone.utc)


# --- views ------------------------------------------------------------------------------------

def endpoint_view(row, secret=None):
    view = {"id": row.id, "url": row.url, "description": row.description,
            "event_types": list(row.event_types),
            "include_personal_data": row.include_personal_data, "active": row.active,
            "disabled_reason": row.disabled_reason, "failing_since": _iso(row.failing_since),
            "previous_secret_expires_at": _iso(row.previous_secret_expires_at),
            "created_at": _iso(row.created_at)}
    if secret is not None:
        view["secret"] = secret
    return view


def delivery_view(row):
    return {"id": row.id, "endpoint_id": row.endpoint_id, "event_id": str(row.event_id),
            "event_type": row.event_type, "booking_id": row.booking_id, "status": row.status,
            "attempts": row.attempts, "last_status_code": row.last_status_code,
            "last_response": row.last_response, "last_error": row.last_error,
            "next_attempt_at": _iso(row.next_attempt_at) if row.status == "pending" else None,
            "delivered_at": _iso(row.delivered_at), "created_at": _iso(row.created_at)}


# --- endpoints (operators) --------------------------------------------------------------------

def _check_endpoint(data, settings):
    problems = {}
    if "url" in data:
        problem = webhook_rules.url_problem(data["url"], settings)
        if problem:
            problems["url"] = [problem]
    bad_types = {i: [p] for i, pattern in enumerate(data.get("event_types") or [])
                 if (p := webhook_rules.event_type_problem(pattern))}
    if bad_types:
        problems["event_types"] = bad_types
    if problems:
        raise InvalidRequest("The endpoint is not valid.", problems)


def load_endpoint(session, endpoint_id, for_update=False):
    row = None
    if str(endpoint_id).isdigit():
        query = select(WebhookEndpointRow).where(WebhookEndpointRow.id == int(endpoint_id))
        row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise WebhookEndpointNotFound(f"There is no webhook endpoint {endpoint_id}.",
                                      {"endpoint_id": endpoint_id})
    return row


def register_endpoint(session, settings, data, now, request_id=None):
    """A new endpoint with its own secret (in this answer only). A repeat with the same
    request_id answers the first endpoint; with another request, IdempotencyKeyReused."""
    data = load(CreateWebhookEndpointSchema, data)
    _check_endpoint(data, settings)
    fields = {"url": data["url"], "description": data["description"],
              "event_types": data["event_types"], "active": data["active"],
              "include_personal_data": data["include_personal_data"]}
    row_id = session.execute(
        insert(WebhookEndpointRow).values(**fields,
                                          secret=settings.secret_box.seal(webhook_rules.new_secret()),
                                          request_id=request_id, created_at=now,
                                          updated_at=now)
        .on_conflict_do_nothing(index_elements=[WebhookEndpointRow.request_id])
        .returning(WebhookEndpointRow.id)).scalar()
    if row_id is None:  # this request_id made one already
        row = session.scalars(select(WebhookEndpointRow).where(
            WebhookEndpointRow.request_id == request_id)).one()
        if any(getattr(row, name) != value for name, value in fields.items()):
            raise IdempotencyKeyReused("This Idempotency-Key created another endpoint.",
                                       {"request_id": request_id})
    else:
        row = session.get(WebhookEndpointRow, row_id)
    return endpoint_view(row, secret=settings.secret_box.open(row.secret))


def update_endpoint(session, settings, endpoint_id, changes, now):
    """Change some fields; active=true also re-enables an endpoint the courier disabled."""
    changes = load(UpdateWebhookEndpointSchema, changes)
    _check_endpoint(changes, settings)
    row = load_endpoint(session, endpoint_id, for_update=True)
    for name, value in changes.items():
        setattr(row, name, value)
    if changes.get("active"):
        row.disabled_reason, row.failing_since = None, None
    row.updated_at = now
    session.flush()
    wake_couriers(session)
    return endpoint_view(row)


def rotate_secret(session, settings, endpoint_id, now, overlap_hours=None):
    """A new secret (in this answer only); the previous one signs too for the overlap."""
    row = load_endpoint(session, endpoint_id, for_update=True)
    overlap = (settings.secret_overlap if overlap_hours is None
               else timedelta(hours=float(overlap_hours)))
    secret = webhook_rules.new_secret()
    row.previous_secret, row.previous_secret_expires_at = row.secret, now + overlap
    row.secret = settings.secret_box.seal(secret)
    row.updated_at = now
    session.flush()
    return endpoint_view(row, secret=secret)


def reseal_secrets(session, settings):
    """Every endpoint's secrets sealed under the first of WEBHOOK_SECRET_KEYS (after that key
    was put first, or an upgrade from secrets kept in clear); how many endpoints."""
    rows = session.scalars(select(WebhookEndpointRow).with_for_update()).all()
    for row in rows:
        row.secret = settings.secret_box.reseal(row.secret)
        row.previous_secret = settings.secret_box.reseal(row.previous_secret)
    session.flush()
    return len(rows)


def list_endpoints(session):
    return [endpoint_view(row) for row in session.scalars(
        select(WebhookEndpointRow).order_by(WebhookEndpointRow.id))]


def get_endpoint(session, endpoint_id):
    return endpoint_view(load_endpoint(session, endpoint_id))


def disable_endpoint(session, row, reason, now):
    """Stop sending to an endpoint and tell the studio (webhook.endpoint_disabled, which the
    integration log records at once: it is this service's own event)."""
    row.active, row.disabled_reason, row.updated_at = False, reason, now
    envelope = record_event(session, SOURCE, "webhook.endpoint_disabled", {
        "endpoint_id": row.id, "url": row.url, "reason": reason,
        "failing_since": _iso(row.failing_since)})
    store.save_entry(session, envelope, "logged", outcome=reason)
    log.warning("webhook endpoint %s disabled: %s", row.id, reason)


# --- deliveries: recording --------------------------------------------------------------------

def wake_couriers(session):
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})


# The active endpoints as last read by this process, under the stamp they were read at.
_kept_endpoints = (None, ())


def active_endpoints(session):
    """[(id, event_types)] of the active endpoints. Kept between transactions while the stamp
    this transaction's log write returned is the one they were read under: no look at the
    endpoints at all then. (Read after that write, a list is never older than its stamp.)"""
    global _kept_endpoints
    stamp = session.info.pop(store.ENDPOINTS_STAMP, None)
    if stamp is not None and _kept_endpoints[0] == stamp:
        return _kept_endpoints[1]
    endpoints = session.execute(select(WebhookEndpointRow.id, WebhookEndpointRow.event_types)
                                .where(WebhookEndpointRow.active.is_(True))).all()
    if stamp is not None:
        _kept_endpoints = (stamp, endpoints)
    return endpoints


def enqueue(session, envelopes, now):
    """One pending delivery of each event per active endpoint that wants it; a repeat of an
    event adds none. One look at the endpoints for all the events (a consumer's batch), none
    while they have not changed. Returns how many were added."""
    if not envelopes:
        return 0
    endpoints = active_endpoints(session)
    deliveries = [{
        "endpoint_id": endpoint_id, "event_id": envelope["event_id"],
        "event_type": envelope["type"],
        "booking_id": _text_or_none((envelope.get("payload") or {}).get("booking_id")),
        "envelope": envelope, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for envelope in envelopes for endpoint_id, patterns in endpoints
        if webhook_rules.wants(patterns, envelope["type"])]
    if not deliveries:
        return 0
    added = session.execute(
        insert(WebhookDeliveryRow).values(deliveries)
        .on_conflict_do_nothing(constraint="webhook_delivery_once")
        .returning(WebhookDeliveryRow.id)).all()
    if added:
        wake_couriers(session)
    return len(added)


def resend(session, delivery_id, now):
    """Send one delivery again now (a new round of tries), whatever its status."""
    row = _load_delivery(session, delivery_id)
    _restart(row, now)
    session.flush()
    wake_couriers(session)
    return delivery_view(row)


def _restart(row, now):
    row.status, row.attempts, row.next_attempt_at, row.updated_at = "pending", 0, now, now


def replay_since(session, endpoint_id, since, now):
    """Queue again every wanted event the integration log has from `since` on (the ones
    already delivered too: receivers dedupe on webhook-id). Returns {endpoint_id, queued}."""
    since = load(ReplayWebhooksSchema, {"since": since})["since"]
    endpoint = load_endpoint(session, endpoint_id)
    entries = session.scalars(
        select(EventLogRow).where(EventLogRow.occurred_at >= since)
        .order_by(EventLogRow.occurred_at, EventLogRow.received_at)
        .limit(REPLAY_LIMIT)).all()
    envelopes = [{"event_id": str(e.event_id), "type": e.type, "version": e.version,
                  "occurred_at": _iso(e.occurred_at), "source": e.source,
                  "payload": e.payload}
                 for e in entries if webhook_rules.wants(endpoint.event_types, e.type)]
    for envelope in envelopes:
        statement = insert(WebhookDeliveryRow).values(
            endpoint_id=endpoint.id, event_id=envelope["event_id"],
            event_type=envelope["type"], booking_id=_text_or_none(
                envelope["payload"].get("booking_id")),
            envelope=envelope, next_attempt_at=now, created_at=now, updated_at=now)
        session.execute(statement.on_conflict_do_update(
            constraint="webhook_delivery_once",
            set_={"status": "pending", "attempts": 0, "next_attempt_at": now,
                  "updated_at": now}))
    if envelopes:
        wake_couriers(session)
    return {"endpoint_id": endpoint.id, "queued": len(envelopes)}


def _text_or_none(value):
    return None if value is None else str(value)


def _load_delivery(session, delivery_id):
    row = session.get(WebhookDeliveryRow, int(delivery_id)) if str(delivery_id).isdigit() \
        else None
    if row is None:
        raise WebhookDeliveryNotFound(f"There is no webhook delivery {delivery_id}.",
                                      {"delivery_id": delivery_id})
    return row


def list_deliveries(session, endpoint_id, filters):
    """{items, next_cursor}: an endpoint's deliveries, newest first."""
    query_data = load(WebhookDeliveryQuerySchema, filters)
    endpoint = load_endpoint(session, endpoint_id)
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint.id) \
        .order_by(WebhookDeliveryRow.id.desc())
    if query_data.get("status"):
        query = query.where(WebhookDeliveryRow.status == query_data["status"])
    if query_data.get("cursor"):
        query = query.where(WebhookDeliveryRow.id < decode_cursor(query_data["cursor"], int))
    rows, next_cursor = page(session, query, query_data["limit"], lambda row: (row.id,))
    return {"items": [delivery_view(row) for row in rows], "next_cursor": next_cursor}


# --- deliveries: sending (the courier's work) -------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A delivery a courier has taken for one try (`attempts` counts this try)."""
    id: int
    attempts: int
    event_id: str
    url: str
    body: str
    secrets: tuple


def claim_due(session, settings, now, limit):
    """Take due deliveries of active endpoints, leased; a booking's deliveries to one
    endpoint go one at a time, in the order they were recorded."""
    earlier = aliased(WebhookDeliveryRow)
    due = (select(WebhookDeliveryRow.id)
           .join(WebhookEndpointRow, and_(WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id,
                                          WebhookEndpointRow.active.is_(True)))
           .where(WebhookDeliveryRow.status == "pending",
                  WebhookDeliveryRow.next_attempt_at <= now,
                  ~exists().where(earlier.endpoint_id == WebhookDeliveryRow.endpoint_id,
                                  earlier.booking_id == WebhookDeliveryRow.booking_id,
                                  earlier.status == "pending",
                                  earlier.id < WebhookDeliveryRow.id))
           .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
           .limit(limit).with_for_update(of=WebhookDeliveryRow, skip_locked=True))
    taken = session.execute(
        update(WebhookDeliveryRow).where(WebhookDeliveryRow.id.in_(due.scalar_subquery()))
        .values(attempts=WebhookDeliveryRow.attempts + 1,
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS), updated_at=now)
        .returning(WebhookDeliveryRow.id, WebhookDeliveryRow.attempts,
                   WebhookDeliveryRow.endpoint_id, WebhookDeliveryRow.envelope)).all()
    endpoints = {row.id: row for row in session.scalars(select(WebhookEndpointRow).where(
        WebhookEndpointRow.id.in_({t.endpoint_id for t in taken})))} if taken else {}
    claims = []
    for delivery_id, attempts, endpoint_id, envelope in sorted(taken):  # oldest first
        endpoint = endpoints[endpoint_id]
        claims.append(Claim(
            delivery_id, attempts, envelope["event_id"], endpoint.url,
            webhook_rules.body_of(envelope, endpoint.include_personal_data),
            tuple(webhook_rules.signing_secrets(
                settings.secret_box.open(endpoint.secret),
                settings.secret_box.open(endpoint.previous_secret),
                endpoint.previous_secret_expires_at, now))))
    return claims


def deliver(claim, settings, now, post=webhook_http.post):
    """Sign and send one delivery; no database work while the receiver takes its time."""
    headers = webhook_rules.signed_headers(claim.event_id, claim.body, claim.secrets, now)
    return post(claim.url, claim.body, headers, settings)


def record_outcome(session, settings, claim, answer, now):
    """Store how the try went: delivered; 410 Gone (the endpoint is disabled); or another
    try after a backoff, failed after the last. An endpoint failing for longer than
    `disable_after` is disabled. Returns the row, or None if the claim had lapsed."""
    row = session.scalars(select(WebhookDeliveryRow).where(
        WebhookDeliveryRow.id == claim.id, WebhookDeliveryRow.attempts == claim.attempts,
        WebhookDeliveryRow.status == "pending").with_for_update()).first()
    if row is None:
        log.warning("webhook delivery %s: claim of try %s lapsed before its outcome",
                    claim.id, claim.attempts)
        return None
    endpoint = load_endpoint(session, row.endpoint_id, for_update=True)
    row.last_status_code, row.last_response = answer.status_code, answer.excerpt or None
    row.last_error, row.updated_at = answer.error, now
    if answer.delivered:
        row.status, row.delivered_at, row.next_attempt_at = "delivered", now, None
        endpoint.failing_since = None
    elif answer.gone:
        row.status, row.next_attempt_at = "failed", None
        if endpoint.active:
            disable_endpoint(session, endpoint, "the receiver answered 410 Gone", now)
    else:
        endpoint.failing_since = endpoint.failing_since or now
        delay = webhook_rules.next_try_delay(row.attempts, settings)
        if delay is None:
            row.status, row.next_attempt_at = "failed", None
        else:
            row.next_attempt_at = now + timedelta(seconds=delay)
        if endpoint.active and webhook_rules.failing_too_long(endpoint.failing_since, now,
                                                              settings):
            disable_endpoint(session, endpoint,
                             f"every delivery failed since {_iso(endpoint.failing_since)}",
                             now)
    session.flush()
    return row


def next_due_at(session):
    return session.scalar(
        select(WebhookDeliveryRow.next_attempt_at)
        .join(WebhookEndpointRow, and_(WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id,
                                       WebhookEndpointRow.active.is_(True)))
        .where(WebhookDeliveryRow.status == "pending")
        .order_by(WebhookDeliveryRow.next_attempt_at).limit(1))
