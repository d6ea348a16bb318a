"""Payments over HTTP: each endpoint authorizes, validates, makes one RPC to `payments` and
answers. Provider webhooks come in here too, their raw body passed on untouched."""
import base64

from werkzeug.wrappers import Response

from contracts.errors.base import AccessDenied
from contracts.payments import (
    CreatedPaymentSchema,
    CreatePaymentSchema,
    PaymentListQuerySchema,
    PaymentListSchema,
    PaymentSchema,
    RefundRequestSchema,
    RefundResultSchema,
)
from gateway import auth as access
from gateway.http import api
from gateway.mock_checkout import MockCheckoutPages

TAG = "payments"


class PaymentsApi(MockCheckoutPages):
    @api("POST", "/api/payments", tag=TAG, auth="booking", body=CreatePaymentSchema,
         response=CreatedPaymentSchema, status=201, errors=[404, 409],
         rate_limit="payments_create",
         summary="Start a payment of a booking (its token); the amount comes from the booking. "
                 "An Idempotency-Key header makes a repeat return the first answer")
    def create_payment(self, request, body, caller):
        return self.payments.create_payment(
            body["booking_id"], body["kind"], body["gateway"], return_url=body["return_url"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            access_token=caller.booking_token)

    @api("GET", "/api/payments", tag=TAG, auth="admin", query=PaymentListQuerySchema,
         response=PaymentListSchema, summary="Payments, newest first (operators)")
    def list_payments(self, request, query):
        return self.payments.list_payments(**query)

    @api("GET", "/api/payments/<payment_id>", tag=TAG, auth="booking", response=PaymentSchema,
         errors=[404], summary="One payment (its booking's token, or the operator's)")
    def get_payment(self, request, payment_id, caller):
        return self.payments.get_payment(payment_id, access_token=caller.booking_token)

    @api("POST", "/api/payments/<payment_id>/refund", tag=TAG, auth="admin",
         body=RefundRequestSchema, optional_body=True, response=RefundResultSchema,
         errors=[404, 409], summary="Operator: refund a payment in full or in part (a "
                                    "manager: a given amount up to OPERATORS."
                                    "manager_refund_limit). An Idempotency-Key header makes a "
                                    "repeat the same refund")
    def refund_payment(self, request, payment_id, body):
        limit = self.operator_rules["manager_refund_limit"]
        if access.operator_of(request).role == "manager" and (
                body.get("amount") is None or body["amount"] > limit):
            raise AccessDenied(f"A manager refunds at most {limit} kopecks at once, with the "
                               f"amount given; the owner refunds more.",
                               {"amount": body.get("amount"), "manager_refund_limit": limit})
        return self.payments.refund(payment_id, amount=body.get("amount"),
                                    reason=body.get("reason"),
                                    request_id=request.headers.get("Idempotency-Key"))

    @api("GET,POST", "/api/payments/webhook/<gateway>", tag=TAG, errors=[403, 404],
         summary="Notifications of yookassa, sberpay, tinkoff (and mock); each provider "
                 "proves itself its own way and gets the reply it expects")
    def payment_webhook(self, request, gateway):
        reply = self.payments.handle_webhook(
            gateway, dict(request.headers),
            base64.b64encode(request.get_data()).decode("ascii"),
            request.args.to_dict(flat=False), request.remote_addr)
        return Response(reply["body"], status=reply["status"],
                        content_type=reply["content_type"])
