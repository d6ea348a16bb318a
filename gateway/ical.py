"""Calendars over HTTP: a booking's .ics file for its customer (the builder is
contracts.ical, shared with the e-mails), answered with ETag and Last-Modified so that
calendar apps polling it get 304 while nothing changed."""
import hashlib
from datetime import datetime

from werkzeug.wrappers import Response

from contracts import ical
from gateway.http import api
from services.common.config import Config

TAG = "calendar"


class CalendarConfig(Config):
    def build(self, config):
        return ical.CalendarSettings.from_config(config)


def ics_response(request, body, last_modified, filename):
    """The .ics answer; a conditional GET that matches answers 304 with no body."""
    response = Response(body, status=200, content_type=ical.CONTENT_TYPE, headers={
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "private, max-age=0, must-revalidate"})
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    if last_modified:
        response.last_modified = datetime.fromisoformat(last_modified)
    return response.make_conditional(request.environ)


class CalendarApi:
    calendar_settings = CalendarConfig()

    @api("GET", "/api/bookings/<booking_id>/calendar.ics", tag=TAG, auth="booking",
         errors=[404], content_type="text/calendar",
         summary="One booking as an iCalendar file (add to calendar)")
    def booking_calendar(self, request, booking_id, caller):
        booking = self.booking.get_booking(booking_id, access_token=caller.booking_token)
        return ics_response(request, ical.booking_calendar(booking, self.calendar_settings),
                            booking["updated_at"], f"booking-{booking['id']}.ics")
