"""The booking service's Nameko entrypoints: halls, the calendar, bookings and their life."""
from services.booking import closures, feeds, operations, reports
from services.booking.domain import Rules
from services.booking.hall_watch import HallWatch
from services.booking.models import Base
from services.common.booking_links import BookingLinkSecret
from services.common.clock import now
from services.common.config import Config
from services.common.db import ServiceDatabase
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, rpc
from services.common.timers import configured_timer


class BookingRules(Config):
    def build(self, config):
        return Rules.from_config(config["BOOKING"], config["STUDIO_TIMEZONE"])


class TimerBatch(Config):
    """How many rows one transaction of a timer takes (BOOKING.timer_batch)."""

    def build(self, config):
        return int(config["BOOKING"].get("timer_batch") or 500)


class BookingService(Pingable):
    name = "booking"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    hall_watch = HallWatch()             # its parsed halls kept while it hears their changes
    rules = BookingRules()
    link_secret = BookingLinkSecret()     # messages' links open their booking too
    timer_batch = TimerBatch()

    # --- halls (operators) ---
    @rpc
    def list_halls(self, include_inactive=False):
        """Halls taking bookings (all halls with include_inactive=True)."""
        with self.db.reading() as session:
            return operations.list_halls(session, include_inactive, self.rules)

    @rpc
    def get_hall(self, hall_id):
        """One hall with its tariff, opening hours and buffer."""
        with self.db.reading() as session:
            return operations.hall_detail_view(operations.store.load_hall_row(session, hall_id))

    @rpc
    def create_hall(self, hall, request_id=None):
        """Create a hall: {name, description, capacity, buffer_minutes, opening_hours?,
        tariff: {hourly_price, rules: [{weekdays: [5, 6], start: "18:00", end: "22:00",
        hourly_price}]}}. Money in kopecks. With a request_id a repeat answers the hall made
        first (IdempotencyKeyReused if the hall differs)."""
        with self.db.get_session() as session:
            return operations.create_hall(session, self.rules, hall, now(), request_id)

    @rpc
    def update_hall(self, hall_id, changes):
        """Change some fields of a hall (same fields as create_hall)."""
        with self.db.get_session() as session:
            return operations.save_hall(session, changes, hall_id)

    @rpc
    def set_tariff(self, hall_id, tariff):
        """Replace a hall's tariff; existing bookings keep their price."""
        with self.db.get_session() as session:
            return operations.save_hall(session, {"tariff": tariff}, hall_id)

    @rpc
    def deactivate_hall(self, hall_id):
        """Stop taking bookings for a hall; existing bookings stay."""
        with self.db.get_session() as session:
            return operations.save_hall(session, {"active": False}, hall_id)

    @rpc
    def rotate_hall_feed_token(self, hall_id):
        """A new token for the hall's calendar feed (GET /ical/halls/<id>.ics?token=...),
        shown only in this answer; the previous token stops working at once."""
        with self.db.get_session() as session:
            return feeds.rotate_feed_token(session, hall_id)

    @rpc
    def disable_hall_feed(self, hall_id):
        """Close the hall's calendar feed: no token opens it until the next rotation."""
        with self.db.get_session() as session:
            return feeds.disable_feed(session, hall_id)

    @rpc
    def hall_feed(self, hall_id, feed_token, days_back=30, known_version=None):
        """The hall's feed: {hall_id, hall_name, version, last_modified, bookings} with the
        held, confirmed and cancelled bookings from days_back ago to the horizon; bookings is
        None when the version is still known_version. AccessDenied for a wrong token."""
        with self.db.get_session() as session:
            return feeds.hall_feed(session, self.rules, hall_id, feed_token, now(), days_back,
                                   known_version)

    # --- the calendar ---
    @rpc
    def get_availability(self, hall_id, start_date, end_date):
        """Free slots with prices per local day, start_date..end_date (YYYY-MM-DD)."""
        with self.db.reading() as session:
            return operations.availability(session, self.rules, hall_id, start_date,
                                           end_date, now())

    @rpc
    def quote(self, hall_id, start, end):
        """{price_total, prepayment_amount, currency} for a booking of [start, end).
        Raises BookingRuleViolation (per field) for a time the rules refuse."""
        with self.db.reading() as session:
            return operations.price_quote(session, self.rules, hall_id, start, end, now())

    # --- bookings ---
    @rpc
    def create_booking(self, booking, request_id=None, client_ip=None,
                       held_until_start=False):
        """Hold a slot unpaid until hold_expires_at. Returns the booking with its
        access_token. Emits booking.created (and booking.expired for a hold whose time had
        run out in the way). Raises SlotTaken, HallClosed, TooManyHolds (unpaid holds per
        phone, e-mail, client_ip). Idempotent per request_id: a repeat answers the first
        booking with its token and creates nothing (IdempotencyKeyReused if the booking asked
        differs). held_until_start (operators only: a booking to be paid at the desk) holds
        it until it starts instead of BOOKING.hold_minutes."""
        with self.db.get_session() as session:
            return operations.create_booking(session, self.rules, booking, now(), request_id,
                                             client_ip, held_until_start)

    @rpc
    def get_booking(self, booking_id, access_token=None):
        """A booking, with its desk_payments; with access_token, only if the token is the
        booking's (or the link token of its messages)."""
        with self.db.reading() as session:
            return operations.get_booking(session, self.rules, booking_id, access_token,
                                          self.link_secret)

    @rpc
    def list_bookings(self, hall_id=None, status=None, date_from=None, date_to=None,
                      cursor=None, limit=50):
        """{items, next_cursor}: bookings by start time, filtered; pass next_cursor on."""
        filters = given(hall_id=hall_id, status=status, date_from=date_from, date_to=date_to,
                        cursor=cursor, limit=limit)
        with self.db.get_session() as session:
            return operations.list_bookings(session, self.rules, filters)

    @rpc
    def confirm_booking(self, booking_id, payment_id, amount):
        """Record a payment of `amount` kopecks and confirm. Idempotent per payment_id.
        An expired hold is confirmed if its slot is still free, else SlotTaken (refund it).
        Emits booking.confirmed (or booking.payment_recorded for a later payment). The
        answer's `overpaid`: what this payment brought beyond the price (refund it)."""
        with self.db.get_session() as session:
            return operations.confirm_booking(session, self.rules, booking_id, payment_id,
                                              amount, now())

    @rpc
    def confirm_at_desk(self, booking_id, amount=None, payment_id=None, request_id=None):
        """Operator: money taken at the desk (default: all still due). Pass a payment_id or
        a request_id to make a repeat harmless."""
        data = given(amount=amount, payment_id=payment_id)
        with self.db.get_session() as session:
            return operations.confirm_at_desk(session, self.rules, booking_id, data, now(),
                                              request_id)

    @rpc
    def cancel_booking(self, booking_id, by="operator", access_token=None, reason=None):
        """Cancel; by="customer" (needs access_token) or "operator" (refunds everything).
        Emits booking.cancelled with refund_due in kopecks."""
        with self.db.get_session() as session:
            return operations.cancel_booking(session, self.rules, booking_id, by, now(),
                                             access_token, reason, self.link_secret)

    @rpc
    def reschedule_booking(self, booking_id, start, end, hall_id=None, by="operator",
                           access_token=None, keep_price=False, reason=None,
                           request_id=None):
        """Move a pending or confirmed booking to [start, end) of hall_id (default: its own);
        the price is quoted again unless an operator keeps it (keep_price). by="customer"
        (needs access_token) may move up to the free-refund deadline, BOOKING.max_reschedules
        times. Raises SlotTaken (nothing changed), BookingRuleViolation, RescheduleTooLate,
        RescheduleLimitReached, InvalidTransition. Emits booking.rescheduled (refund_due: paid
        beyond the new price, refunded by integration). Idempotent per request_id."""
        data = given(hall_id=hall_id, start=start, end=end, keep_price=keep_price,
                     reason=reason)
        with self.db.get_session() as session:
            return operations.reschedule_booking(session, self.rules, booking_id, data, by,
                                                 now(), access_token, request_id,
                                                 self.link_secret)

    # --- closures (operators) ---
    @rpc
    def create_block(self, block, created_by=None, request_id=None):
        """Close a hall (block["hall_id"]; None: every hall) over [start, end) with a reason:
        availability leaves the time out and no booking can take it (HallClosed). Raises
        BlockHitsBookings listing the active bookings there, unless block["force"] (then they
        stay, listed in the answer: {blocks, bookings_hit}). Emits hall.blocked per hall.
        Idempotent per request_id."""
        with self.db.get_session() as session:
            return closures.create_block(session, self.rules, block, now(), created_by,
                                         request_id)

    @rpc
    def delete_block(self, block_id, by=None):
        """Open a block's time again. Emits hall.unblocked. Raises BlockNotFound."""
        with self.db.get_session() as session:
            return closures.delete_block(session, self.rules, block_id, by)

    @rpc
    def list_blocks(self, date_from, date_to, hall_id=None):
        """{items}: blocks meeting the local days date_from..date_to (YYYY-MM-DD), by start."""
        with self.db.get_session() as session:
            return closures.list_blocks(
                session, self.rules, operations._parse_date(date_from, "date_from"),
                operations._parse_date(date_to, "date_to"), hall_id)

    @rpc
    def set_special_day(self, day, hours, hall_id=None, note=None):
        """Hours of its own for a date (hours ["HH:MM", "HH:MM"]; None: closed all day), for
        hall_id or (None) every hall. Availability and new bookings follow; the answer's
        bookings_outside lists the active bookings outside the new hours."""
        with self.db.get_session() as session:
            return closures.set_special_day(
                session, self.rules, operations._parse_date(day, "day"),
                {"hours": hours, "hall_id": hall_id, "note": note}, now())

    @rpc
    def delete_special_day(self, day, hall_id=None):
        """The date keeps the week's hours again."""
        with self.db.get_session() as session:
            return closures.delete_special_day(session, operations._parse_date(day, "day"),
                                               hall_id)

    @rpc
    def list_special_days(self, date_from, date_to):
        """{items}: dates with hours of their own between the dates."""
        with self.db.get_session() as session:
            return closures.list_special_days(
                session, self.rules, operations._parse_date(date_from, "date_from"),
                operations._parse_date(date_to, "date_to"))

    @rpc
    def list_hall_details(self):
        """Every hall, inactive ones too, with its buffer, opening hours and whole tariff
        (the halls editor)."""
        with self.db.get_session() as session:
            return [operations.hall_detail_view(row)
                    for row in operations.store.list_hall_rows(session, include_inactive=True)]

    @rpc
    def price_preview(self, tariff, opening_hours=None):
        """What a tariff (and opening hours; None: the studio's) would charge over a week,
        before saving: [{weekday, open, prices: [{start, end, hourly_price}]}]. Raises
        InvalidRequest for a tariff or hours create_hall would refuse. Reads nothing."""
        return operations.price_preview(self.rules, tariff, opening_hours)

    # --- reports (operators) ---
    @rpc
    def occupancy_report(self, date_from, date_to):
        """Per hall, local days date_from..date_to (YYYY-MM-DD): open and booked minutes,
        occupancy %, and the weekday x hour heat map (% of quarter hours booked). Aggregated
        in SQL; reads only."""
        with self.db.get_session() as session:
            return reports.occupancy(session, self.rules, date_from, date_to)

    @rpc
    def halls_of_bookings(self, booking_ids):
        """{booking id: hall id} of the given bookings (for takings by hall). Reads only."""
        with self.db.get_session() as session:
            return reports.halls_of(session, booking_ids)

    @rpc
    def desk_takings(self, date_from, date_to):
        """Money taken at the desk on local days date_from..date_to: rows {day, provider:
        "desk", booking_id, money_in, refunds: 0, payments, refund_count: 0}, as payments'
        takings answers them. Aggregated in SQL; reads only."""
        with self.db.get_session() as session:
            return reports.desk_takings(session, self.rules, date_from, date_to)

    @rpc
    def export_bookings(self, date_from, date_to):
        """Bookings starting on local days date_from..date_to as flat rows (for CSV), by
        start, at most 10000. Reads only."""
        with self.db.get_session() as session:
            return reports.export_rows(session, self.rules, date_from, date_to)

    @configured_timer("BOOKING", "expire_interval_seconds", default=5)
    def expire_holds(self):
        """Expire every unpaid hold past its time, a batch per transaction; booking processes
        share the work (SKIP LOCKED). A new booking expires those in its way itself."""
        operations.drain(self.db.get_session, operations.expire_holds, self.rules, now(),
                         self.timer_batch)

    @configured_timer("BOOKING", "complete_interval_seconds", default=60)
    def complete_finished(self):
        operations.drain(self.db.get_session, operations.complete_finished, self.rules, now(),
                         self.timer_batch)

    @configured_timer("BOOKING", "forget_request_ids_interval_seconds", default=600)
    def forget_request_ids(self):
        operations.drain(self.db.get_session, operations.forget_request_ids, self.rules, now(),
                         self.timer_batch)
