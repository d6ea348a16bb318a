"""The booking service's Nameko entrypoints: halls, the calendar, bookings and their life."""
from nameko.timer import timer

from services.booking import operations
from services.booking.domain import Rules
from services.booking.models import Base
from services.common.clock import now
from services.common.config import Config
from services.common.db import ServiceDatabase
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, rpc


class BookingRules(Config):
    def build(self, config):
        return Rules.from_config(config["BOOKING"], config["STUDIO_TIMEZONE"])


class BookingService(Pingable):
    name = "booking"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    rules = BookingRules()

    # --- halls (operators) ---
    @rpc
    def list_halls(self, include_inactive=False):
        """Halls taking bookings (all halls with include_inactive=True)."""
        with self.db.get_session() as session:
            return operations.list_halls(session, include_inactive)

    @rpc
    def get_hall(self, hall_id):
        """One hall with its tariff, opening hours and buffer."""
        with self.db.get_session() as session:
            return operations.hall_detail_view(operations.store.load_hall_row(session, hall_id))

    @rpc
    def create_hall(self, hall):
        """Create a hall: {name, description, capacity, buffer_minutes, opening_hours?,
        tariff: {hourly_price, rules: [{weekdays: [5, 6], start: "18:00", end: "22:00",
        hourly_price}]}}. Money in kopecks."""
        with self.db.get_session() as session:
            return operations.save_hall(session, hall)

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

    # --- the calendar ---
    @rpc
    def get_availability(self, hall_id, start_date, end_date):
        """Free slots with prices per local day, start_date..end_date (YYYY-MM-DD)."""
        with self.db.get_session() as session:
            return operations.availability(session, self.rules, hall_id, start_date,
                                           end_date, now())

    @rpc
    def quote(self, hall_id, start, end):
        """{price_total, prepayment_amount, currency} for a booking of [start, end)."""
        with self.db.get_session() as session:
            return operations.price_quote(session, self.rules, hall_id, start, end)

    # --- bookings ---
    @rpc
    def create_booking(self, booking):
        """Hold a slot unpaid until hold_expires_at. Returns the booking with its
        access_token (shown only here). Emits booking.created. Raises SlotTaken."""
        with self.db.get_session() as session:
            return operations.create_booking(session, self.rules, booking, now())

    @rpc
    def get_booking(self, booking_id, access_token=None):
        """A booking; with access_token, only if the token is the booking's."""
        with self.db.get_session() as session:
            return operations.get_booking(session, self.rules, booking_id, access_token)

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
    def confirm_at_desk(self, booking_id, amount=None, payment_id=None):
        """Operator: money taken at the desk (default: all still due). Pass a payment_id to
        make a repeat harmless."""
        data = given(amount=amount, payment_id=payment_id)
        with self.db.get_session() as session:
            return operations.confirm_at_desk(session, self.rules, booking_id, data, now())

    @rpc
    def cancel_booking(self, booking_id, by="operator", access_token=None, reason=None):
        """Cancel; by="customer" (needs access_token) or "operator" (refunds everything).
        Emits booking.cancelled with refund_due in kopecks."""
        with self.db.get_session() as session:
            return operations.cancel_booking(session, self.rules, booking_id, by, now(),
                                             access_token, reason)

    @timer(interval=5)
    def expire_holds(self):
        with self.db.get_session() as session:
            operations.expire_holds(session, self.rules, now())

    @timer(interval=60)
    def complete_finished(self):
        with self.db.get_session() as session:
            operations.complete_finished(session, self.rules, now())
