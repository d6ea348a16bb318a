"""The integration log over HTTP, for operators: each endpoint checks the admin token,
validates, makes one RPC to `integration` and answers."""
from contracts.integration import BookingChainSchema, EventLogItemSchema, EventLogPageSchema, EventLogQuerySchema
from gateway.http import api

TAG = "integrations"


class IntegrationApi:
    @api("GET", "/api/integrations/events", tag=TAG, auth="admin", query=EventLogQuerySchema,
         response=EventLogPageSchema,
         summary="The integration log, newest first: every event of every service, with "
                 "what it drove (operators)")
    def list_integration_events(self, request, query):
        return self.integration.list_events(**query)

    @api("GET", "/api/integrations/events/<event_id>", tag=TAG, auth="admin",
         response=EventLogItemSchema, errors=[404],
         summary="One event of the integration log with its status and outcome (operators)")
    def get_integration_event(self, request, event_id):
        return self.integration.get_event(event_id)

    @api("POST", "/api/integrations/events/<event_id>/retry", tag=TAG, auth="admin",
         response=EventLogItemSchema, errors=[404, 409],
         summary="Run a failed or dead event's reaction again now (operators)")
    def retry_integration_event(self, request, event_id):
        return self.integration.retry_event(event_id)

    @api("GET", "/api/integrations/bookings/<booking_id>/events", tag=TAG, auth="admin",
         response=BookingChainSchema,
         summary="Every event of one booking, oldest first (operators)")
    def booking_event_chain(self, request, booking_id):
        return self.integration.booking_chain(booking_id)
