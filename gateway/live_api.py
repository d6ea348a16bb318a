"""Live status over HTTP: a ticket for the browser's EventSource, and the event stream."""
from werkzeug.wrappers import Response

from gateway import auth as access
from gateway.errors import Unauthorized
from gateway.http import api, json_response
from gateway.live import EventStream, LiveHub, live_events, stream_response_environ
from services.common.booking_links import BookingLinkSecret, is_live_ticket, live_ticket

TAG = "bookings"
TICKET_COOKIE = "live_ticket"


def events_path(booking_id):
    return f"/api/bookings/{booking_id}/events"


class LiveApi:
    live = LiveHub()
    link_secret = BookingLinkSecret()

    @api("POST", "/api/bookings/<booking_id>/live-ticket", tag=TAG, auth="booking",
         status=201, errors=[403, 404],
         summary="A short-lived cookie that opens this booking's event stream (an "
                 "EventSource cannot send the token); the token stays out of URLs")
    def live_ticket(self, request, booking_id, caller):
        self.booking.get_booking(booking_id, access_token=caller.booking_token)
        seconds = self.live.ticket_seconds
        response = json_response(201, {"expires_in": seconds})
        response.set_cookie(
            TICKET_COOKIE, live_ticket(self.link_secret, booking_id, seconds),
            max_age=seconds, path=events_path(booking_id), httponly=True, samesite="Strict",
            secure=self.live.secure_cookies)
        return response

    @api("GET", "/api/bookings/<booking_id>/events", tag=TAG, errors=[401, 403, 404, 429, 503],
         content_type="text/event-stream",
         summary="Server-Sent Events of one booking: `state` (the booking now) first, then "
                 "booking.* and payment.* events as they happen (id = event_id; Last-Event-ID "
                 "replays what was missed). Authorized by the live-ticket cookie or the "
                 "booking's (or operator's) bearer token")
    def booking_events(self, request, booking_id):
        token = access.bearer_token(request)
        if token is None and not is_live_ticket(self.link_secret, booking_id,
                                                request.cookies.get(TICKET_COOKIE)):
            raise Unauthorized("This needs a live ticket (POST .../live-ticket) or the "
                               "booking's access token: Authorization: Bearer <token>.")
        hub = self.live.hub
        # Subscribe before reading the state: an event in between is queued, not lost.
        subscription = hub.open(booking_id, request.headers.get("Last-Event-ID"))
        try:
            state = self.booking.get_booking(
                booking_id, access_token=None if token is None or access.is_admin(
                    token, self.admin_token) else token)
        except BaseException:
            hub.close(subscription)
            raise
        stream_response_environ(request)
        return Response(EventStream(hub, subscription, state, self.live.heartbeat_seconds),
                        mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @live_events
    def push_to_browsers(self, envelope):
        """Each process's broadcast queue of LIVE_EVENTS; its handler gives them to the
        Hub without a worker, so this body never runs."""
