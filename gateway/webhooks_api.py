"""Outbound webhooks over HTTP (operators): endpoints, their secrets and their delivery log.
Each endpoint authorizes, validates, makes one RPC to `integration` and answers."""
from contracts.webhooks import (
    CreateWebhookEndpointSchema,
    ReplayAnswerSchema,
    ReplayWebhooksSchema,
    RotateWebhookSecretSchema,
    UpdateWebhookEndpointSchema,
    WebhookDeliveryPageSchema,
    WebhookDeliveryQuerySchema,
    WebhookDeliverySchema,
    WebhookEndpointSchema,
    WebhookEndpointWithSecretSchema,
)
from gateway.http import api

TAG = "webhooks"
ENDPOINT = "/api/webhooks/endpoints/<int:endpoint_id>"


class WebhooksApi:
    @api("POST", "/api/webhooks/endpoints", tag=TAG, auth="admin",
         body=CreateWebhookEndpointSchema, response=WebhookEndpointWithSecretSchema,
         status=201, errors=[409],
         summary="Register a receiver of the studio's events; the answer shows its signing "
                 "secret once. An Idempotency-Key header makes a repeat answer the first")
    def create_webhook_endpoint(self, request, body):
        return self.integration.create_webhook_endpoint(
            body, request_id=request.headers.get("Idempotency-Key"))

    @api("GET", "/api/webhooks/endpoints", tag=TAG, auth="admin",
         response=WebhookEndpointSchema, many=True, summary="Every webhook endpoint")
    def list_webhook_endpoints(self, request):
        return self.integration.list_webhook_endpoints()

    @api("GET", ENDPOINT, tag=TAG, auth="admin", response=WebhookEndpointSchema,
         errors=[404], summary="One webhook endpoint")
    def get_webhook_endpoint(self, request, endpoint_id):
        return self.integration.get_webhook_endpoint(endpoint_id)

    @api("PATCH", ENDPOINT, tag=TAG, auth="admin", body=UpdateWebhookEndpointSchema,
         response=WebhookEndpointSchema, errors=[404],
         summary="Change an endpoint; active=true re-enables a disabled one")
    def update_webhook_endpoint(self, request, endpoint_id, body):
        return self.integration.update_webhook_endpoint(endpoint_id, body)

    @api("POST", ENDPOINT + "/rotate-secret", tag=TAG, auth="admin",
         body=RotateWebhookSecretSchema, optional_body=True,
         response=WebhookEndpointWithSecretSchema, errors=[404],
         summary="A new signing secret, shown once; the old one signs too for the overlap")
    def rotate_webhook_secret(self, request, endpoint_id, body):
        return self.integration.rotate_webhook_secret(endpoint_id, body.get("overlap_hours"))

    @api("GET", ENDPOINT + "/deliveries", tag=TAG, auth="admin",
         query=WebhookDeliveryQuerySchema, response=WebhookDeliveryPageSchema, errors=[404],
         summary="An endpoint's delivery log, newest first")
    def list_webhook_deliveries(self, request, endpoint_id, query):
        return self.integration.list_webhook_deliveries(endpoint_id, **query)

    @api("POST", ENDPOINT + "/replay", tag=TAG, auth="admin", body=ReplayWebhooksSchema,
         response=ReplayAnswerSchema, errors=[404],
         summary="Send again every wanted event that occurred since a time")
    def replay_webhooks(self, request, endpoint_id, body):
        return self.integration.replay_webhooks(endpoint_id, body["since"])

    @api("POST", "/api/webhooks/deliveries/<int:delivery_id>/resend", tag=TAG, auth="admin",
         response=WebhookDeliverySchema, errors=[404],
         summary="Send one delivery again now (same webhook-id)")
    def resend_webhook_delivery(self, request, delivery_id):
        return self.integration.resend_webhook_delivery(delivery_id)
