"""The event envelope: the public contract every event travels in.

External systems read these messages, so fields are only ever added; a change that would
break a reader becomes a new `version` of the event type instead.
"""
import uuid
from datetime import datetime, timezone

from marshmallow import Schema, fields, validate


class EventEnvelopeSchema(Schema):
    event_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+\.[a-z_]+$"))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    source = fields.String(required=True)
    payload = fields.Dict(required=True)
    # Added within version 1: the id of the request (X-Request-ID) or event that caused it;
    # every event of one chain (a webhook, the confirmation, its messages) carries the same.
    correlation_id = fields.String(allow_none=True, metadata={
        "description": "the X-Request-ID of the HTTP request that started the chain"})


def make_envelope(source, event_type, payload, version=1, occurred_at=None,
                  correlation_id=None):
    """A new envelope as a JSON-ready dict (UTC ISO-8601 time, string UUID)."""
    occurred_at = occurred_at or datetime.now(timezone.utc)
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": version,
        "occurred_at": occurred_at.astimezone(timezone.utc).isoformat(),
        "source": source,
        "payload": payload,
        "correlation_id": correlation_id,
    }
