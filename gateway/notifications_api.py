"""Notifications over HTTP, for operators: what was sent to whom, and sending by hand."""
from contracts.notifications import NotificationListQuerySchema, NotificationListSchema, SendNotificationSchema
from gateway.http import api

TAG = "notifications"


class NotificationsApi:
    @api("GET", "/api/notifications", tag=TAG, auth="admin", query=NotificationListQuerySchema,
         response=NotificationListSchema,
         summary="Notifications newest first, with their delivery state (operators)")
    def list_notifications(self, request, query):
        return self.notifications.list_notifications(**query)

    @api("POST", "/api/notifications/send", tag=TAG, auth="admin", body=SendNotificationSchema,
         response=NotificationListSchema, status=202, errors=[404, 409],
         summary="Send {channel, recipient, text} or a template for a booking's customer "
                 "{booking_id, template}; answered at once, delivered by the courier. An "
                 "Idempotency-Key header makes a repeat send nothing and answer the first")
    def send_notification(self, request, body):
        return self.notifications.send(**body,
                                       request_id=request.headers.get("Idempotency-Key"))
