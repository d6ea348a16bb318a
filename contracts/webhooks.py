"""The outbound webhooks contract: endpoints and deliveries over RPC and HTTP (field names
are public), and the event integration publishes when it gives up on an endpoint."""
from datetime import timezone

from marshmallow import Schema, fields, validate

from contracts import paging

DELIVERY_STATUSES = ("pending", "delivered", "failed")
EVENT_TYPES = {"description": "event types wanted: booking.confirmed, a family booking.*, "
                              "or * for all"}


class CreateWebhookEndpointSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={
        "description": "https:// (http:// only to development hosts allowed in config)"})
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                              required=True, validate=validate.Length(min=1, max=50),
                              metadata=EVENT_TYPES)
    description = fields.String(load_default="", validate=validate.Length(max=500))
    active = fields.Boolean(load_default=True)
    include_personal_data = fields.Boolean(load_default=False, metadata={
        "description": "send the customer's name and contacts (payload.customer); off: "
                       "they are left out"})


class UpdateWebhookEndpointSchema(Schema):
    """Every field optional: only those given change."""

    url = fields.String(validate=validate.Length(min=1, max=2000))
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                              validate=validate.Length(min=1, max=50), metadata=EVENT_TYPES)
    description = fields.String(validate=validate.Length(max=500))
    active = fields.Boolean(metadata={"description": "true also re-enables a disabled one"})
    include_personal_data = fields.Boolean()


class WebhookEndpointSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.String())
    include_personal_data = fields.Boolean()
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    failing_since = fields.String(allow_none=True)
    previous_secret_expires_at = fields.String(allow_none=True, metadata={
        "description": "until then the previous secret signs too (after a rotation)"})
    created_at = fields.String()


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = fields.String(metadata={
        "description": "whsec_...: shown only in the answer that creates or rotates it"})


class RotateWebhookSecretSchema(Schema):
    overlap_hours = fields.Float(validate=validate.Range(min=0, max=24 * 7), metadata={
        "description": "how long the previous secret keeps signing too (default: config)"})


class WebhookDeliveryQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    cursor = paging.cursor()
    limit = paging.limit()


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    endpoint_id = fields.Integer()
    event_id = fields.String(metadata={"description": "also the webhook-id header"})
    event_type = fields.String()
    booking_id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_response = fields.String(allow_none=True, metadata={
        "description": "the start of the receiver's last answer (bounded)"})
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)
    created_at = fields.String()


class WebhookDeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(WebhookDeliverySchema))
    next_cursor = paging.next_cursor()


class ReplayWebhooksSchema(Schema):
    since = fields.AwareDateTime(required=True, default_timezone=timezone.utc, metadata={
        "description": "send again every wanted event that occurred since (ISO-8601)"})


class ReplayAnswerSchema(Schema):
    endpoint_id = fields.Integer()
    queued = fields.Integer(metadata={"description": "deliveries queued"})


class WebhookEndpointDisabledPayloadSchema(Schema):
    """Payload of webhook.endpoint_disabled (version 1)."""
    endpoint_id = fields.Integer(required=True)
    url = fields.String(required=True)
    reason = fields.String(required=True)
    failing_since = fields.String(allow_none=True)
