"""Calendars over HTTP: a booking's .ics file for its customer and each hall's feed for the
studio's calendar apps (the builder is contracts.ical, shared with the e-mails). Both answer
with ETag and Last-Modified, so an app polling them gets 304 while nothing changed."""
import hashlib
from datetime import datetime

from werkzeug.wrappers import Response

from contracts import ical
from contracts.booking import HallFeedTokenSchema
from gateway import auth as access
from gateway.errors import Unauthorized
from gateway.http import api
from services.common.config import Config

TAG = "calendar"


class CalendarConfig(Config):
    def build(self, config):
        return ical.CalendarSettings.from_config(config)


def ics_response(request, body, last_modified, filename, etag=None):
    """The .ics answer; a conditional GET that matches answers 304 with no body."""
    response = Response(body, status=200, content_type=ical.CONTENT_TYPE, headers={
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "private, max-age=0, must-revalidate"})
    response.set_etag(etag or hashlib.sha256(body).hexdigest()[:32])
    if last_modified:
        response.last_modified = datetime.fromisoformat(last_modified)
    return response.make_conditional(request.environ)


def not_modified(etag, last_modified):
    response = Response(status=304)
    response.set_etag(etag)
    if last_modified:
        response.last_modified = datetime.fromisoformat(last_modified)
    return response


def known_feed_version(request, suffix):
    """The feed version the client says it has (from If-None-Match), if ours made that tag."""
    for tag in request.if_none_match.as_set():
        version, _, tag_suffix = tag.partition(".")
        if tag_suffix == suffix:
            return version
    return None


class CalendarApi:
    calendar_settings = CalendarConfig()

    @api("GET", "/api/bookings/<booking_id>/calendar.ics", tag=TAG, errors=[401, 403, 404],
         content_type="text/calendar",
         summary="One booking as an iCalendar file (add to calendar): the booking's token, "
                 "the operator's, or ?key= from the link in the confirmation message")
    def booking_calendar(self, request, booking_id):
        if ical.link_opens(booking_id, request.args.get("key"), self.calendar_settings):
            token = None
        else:
            token = access.caller_token(request)
            token = None if access.is_admin(token, self.admin_token) else token
        booking = self.booking.get_booking(booking_id, access_token=token)
        return ics_response(request, ical.booking_calendar(booking, self.calendar_settings),
                            booking["updated_at"], f"booking-{booking['id']}.ics")

    @api("GET", "/ical/halls/<int:hall_id>.ics", tag=TAG, content_type="text/calendar",
         summary="A hall's calendar feed (RFC 5545) for calendar apps: ?token=<feed token>")
    def hall_calendar_feed(self, request, hall_id):
        token = request.args.get("token")
        if not token:
            raise Unauthorized("A calendar feed needs its token: ?token=<feed token>.")
        settings = self.calendar_settings
        suffix = settings.etag_suffix
        feed = self.booking.hall_feed(hall_id, token, settings.feed_days_back,
                                      known_feed_version(request, suffix))
        etag = f"{feed['version']}.{suffix}"
        if feed["bookings"] is None:
            return not_modified(etag, feed["last_modified"])
        events = [ical.booking_event(booking, settings) for booking in feed["bookings"]]
        return ics_response(request, ical.calendar(events, feed["hall_name"]),
                            feed["last_modified"], f"hall-{hall_id}.ics", etag)

    @api("POST", "/api/halls/<int:hall_id>/feed-token", tag=TAG, auth="admin", status=201,
         response=HallFeedTokenSchema, errors=[404],
         summary="Operator: a new token for the hall's calendar feed (the old one stops)")
    def rotate_hall_feed_token(self, request, hall_id):
        answer = self.booking.rotate_hall_feed_token(hall_id)
        return {**answer, "feed_url": f"{self.calendar_settings.public_url}/ical/halls/"
                                      f"{hall_id}.ics?token={answer['feed_token']}"}

    @api("DELETE", "/api/halls/<int:hall_id>/feed-token", tag=TAG, auth="admin",
         response=HallFeedTokenSchema, errors=[404],
         summary="Operator: close the hall's calendar feed")
    def disable_hall_feed(self, request, hall_id):
        return self.booking.disable_hall_feed(hall_id)
