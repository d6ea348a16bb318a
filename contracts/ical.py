"""A booking as an iCalendar (RFC 5545) event: the one builder behind the customer's
"add to calendar" file, the e-mail attachment and the halls' calendar feeds.

A calendar app matches events by UID and keeps the copy with the highest SEQUENCE (then the
latest DTSTAMP), so the UID never changes and SEQUENCE is the booking's `revision`, which
grows with every change. Times go out in UTC: no VTIMEZONE to get wrong.
"""
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone

import icalendar

PRODID = "-//Studio booking//Calendar 1.0//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
# booking status -> STATUS of its VEVENT
EVENT_STATUS = {
    "pending_payment": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "completed": "CONFIRMED",
    "cancelled": "CANCELLED",
    "expired": "CANCELLED",
}


@dataclass(frozen=True)
class CalendarSettings:
    uid_domain: str = "studio-booking"
    # The customer's name in SUMMARY: off by default, a feed URL travels far.
    summary_shows_customer: bool = False
    feed_days_back: int = 30
    public_url: str = "http://127.0.0.1:8000"
    # Signs the calendar links in messages (no booking token travels in a chat): the booking
    # link secret (BOOKING_LINK_SECRET), under a purpose of its own; empty: no links.
    link_secret: str = ""

    @classmethod
    def from_config(cls, config):
        section = config.get("CALENDAR") or {}
        shows = str(section.get("summary_shows_customer", False)).strip().lower()
        return cls(uid_domain=str(section.get("uid_domain") or cls.uid_domain),
                   summary_shows_customer=shows in ("1", "true", "yes", "on"),
                   feed_days_back=int(section.get("feed_days_back", cls.feed_days_back)),
                   public_url=str(config.get("PUBLIC_URL") or cls.public_url).rstrip("/"),
                   link_secret=str(config.get("BOOKING_LINK_SECRET") or ""))

    @property
    def etag_suffix(self):
        """What besides the bookings shapes a feed's text: part of its ETag."""
        return "named" if self.summary_shows_customer else "private"


def link_key(booking_id, settings):
    """The key of a booking's calendar link: an HMAC of its id under the link secret."""
    digest = hmac.new(settings.link_secret.encode(), f"calendar:{booking_id}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def link_opens(booking_id, key, settings):
    return bool(settings.link_secret and key) and hmac.compare_digest(
        link_key(booking_id, settings), str(key))


def calendar_link(booking_id, settings):
    """The address of a booking's .ics that opens without its token (None: links are off)."""
    if not settings.link_secret:
        return None
    return (f"{settings.public_url}/api/bookings/{booking_id}/calendar.ics"
            f"?key={link_key(booking_id, settings)}")


def booking_uid(booking_id, settings):
    return f"booking-{booking_id}@{settings.uid_domain}"


def _utc(value):
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(timezone.utc)


def summary(booking, settings):
    text = f"{booking['hall_name']}: booking"
    if settings.summary_shows_customer and booking.get("customer"):
        text = f"{booking['hall_name']}: {booking['customer']['name']}"
    return text


def booking_event(booking, settings, stamp=None):
    """The VEVENT of a booking. `booking` is a booking view (contracts.booking.BookingSchema)
    or a booking.* event payload; `stamp` (DTSTAMP) defaults to its updated_at."""
    booking_id = booking.get("id") or booking["booking_id"]
    event = icalendar.Event()
    event.add("uid", booking_uid(booking_id, settings))
    event.add("dtstamp", _utc(stamp or booking["updated_at"]))
    event.add("dtstart", _utc(booking["start"]))
    event.add("dtend", _utc(booking["end"]))
    event.add("summary", summary(booking, settings))
    event.add("location", booking["hall_name"])
    event.add("status", EVENT_STATUS[booking["status"]])
    event.add("sequence", int(booking.get("revision") or 0))
    event.add("transp", "OPAQUE")
    return event


def calendar(events, name=None):
    """An iCalendar document (bytes: CRLF line ends, long lines folded) of the given VEVENTs."""
    document = icalendar.Calendar()
    document.add("prodid", PRODID)
    document.add("version", "2.0")
    document.add("calscale", "GREGORIAN")
    if name:
        document.add("x-wr-calname", name)
    for event in events:
        document.add_component(event)
    return document.to_ical()


def booking_calendar(booking, settings, stamp=None):
    """The .ics file of one booking (download, e-mail attachment)."""
    return calendar([booking_event(booking, settings, stamp)])
