"""Halls, the calendar and bookings over HTTP: each endpoint authorizes, validates, makes one
RPC to `booking` and answers."""
from contracts.booking import (
    AvailabilityQuerySchema,
    AvailabilitySchema,
    BookingListQuerySchema,
    BookingListSchema,
    BookingSchema,
    CancelBookingSchema,
    ConfirmBookingSchema,
    CreateBookingSchema,
    CreatedBookingSchema,
    HallSchema,
    OneBookingSchema,
    QuoteQuerySchema,
    QuoteSchema,
    RescheduleBookingSchema,
    RescheduledBookingSchema,
)
from gateway.client_ip import client_ip
from gateway.http import api

TAG = "bookings"


class BookingApi:
    @api("GET", "/api/halls", summary="Halls taking bookings", tag=TAG, response=HallSchema,
         many=True)
    def list_halls(self, request):
        return self.booking.list_halls()

    @api("GET", "/api/bookings/availability", tag=TAG, query=AvailabilityQuerySchema,
         response=AvailabilitySchema, errors=[404], rate_limit="availability",
         summary="Free 15-minute slots of a hall with their prices, per local day")
    def availability(self, request, query):
        return self.booking.get_availability(query["hall_id"], query["start_date"],
                                             query["end_date"])

    @api("GET", "/api/bookings/quote", tag=TAG, query=QuoteQuerySchema, response=QuoteSchema,
         errors=[404], rate_limit="quote", summary="Price and prepayment of a booking")
    def quote(self, request, query):
        return self.booking.quote(query["hall_id"], query["start"], query["end"])

    @api("POST", "/api/bookings", tag=TAG, body=CreateBookingSchema,
         response=CreatedBookingSchema, status=201, errors=[404, 409, 429], idempotency_key=True,
         rate_limit="bookings_create",
         summary="Hold a slot until it is paid; the answer carries the booking's access token. "
                 "An Idempotency-Key header makes a repeat answer the first booking, token "
                 "included; a client allowed a few unpaid holds at a time gets 429 beyond")
    def create_booking(self, request, body):
        return self.booking.create_booking(
            body, request_id=request.headers.get("Idempotency-Key"),
            client_ip=client_ip(request, self.rate_limits.trusted_proxies))

    @api("GET", "/api/bookings", tag=TAG, auth="admin", query=BookingListQuerySchema,
         response=BookingListSchema, summary="Bookings by start time (operators)")
    def list_bookings(self, request, query):
        return self.booking.list_bookings(**query)

    @api("GET", "/api/bookings/<booking_id>", tag=TAG, auth="booking", response=OneBookingSchema,
         errors=[404], summary="One booking (its access token, or the operator's)")
    def get_booking(self, request, booking_id, caller):
        return self.booking.get_booking(booking_id, access_token=caller.booking_token)

    @api("DELETE", "/api/bookings/<booking_id>", tag=TAG, auth="booking",
         body=CancelBookingSchema, optional_body=True, response=BookingSchema,
         errors=[404, 409],
         summary="Cancel a booking; refund_due follows the cancellation policy (an "
                 "operator's cancellation refunds everything), with an optional reason")
    def cancel_booking(self, request, booking_id, caller, body):
        return self.booking.cancel_booking(
            booking_id, by="operator" if caller.is_admin else "customer",
            access_token=caller.booking_token, reason=body.get("reason"))

    @api("POST", "/api/bookings/<booking_id>/reschedule", tag=TAG, auth="booking",
         body=RescheduleBookingSchema, response=RescheduledBookingSchema,
         errors=[404, 409, 429], idempotency_key=True, rate_limit="bookings_create",
         summary="Move a booking to another free time or hall; the price is quoted again "
                 "(refund_due: paid beyond the new price, refunded). A customer may move it "
                 "up to the free-refund deadline and BOOKING.max_reschedules times, an "
                 "operator at any time (keep_price keeps the old price). An Idempotency-Key "
                 "header makes a repeat answer the first move")
    def reschedule_booking(self, request, booking_id, caller, body):
        return self.booking.reschedule_booking(
            booking_id, **body, by="operator" if caller.is_admin else "customer",
            access_token=caller.booking_token,
            request_id=request.headers.get("Idempotency-Key"))

    @api("POST", "/api/bookings/<booking_id>/confirm", tag=TAG, auth="admin",
         body=ConfirmBookingSchema, optional_body=True, response=BookingSchema,
         errors=[404, 409], idempotency_key=True, summary="Operator: record money taken at the desk and confirm. "
                                    "An Idempotency-Key header makes a repeat harmless")
    def confirm_booking(self, request, booking_id, body):
        return self.booking.confirm_at_desk(
            booking_id, **body, request_id=request.headers.get("Idempotency-Key"))
