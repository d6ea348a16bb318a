"""The halls editor's API (owner): the booking service's hall RPCs over HTTP."""
from contracts.halls import HallDetailSchema, HallEditSchema, NewHallSchema, PriceDaySchema, PricePreviewRequestSchema
from gateway.http import api

TAG = "halls"


class HallsApi:
    @api("GET", "/api/admin/halls", tag=TAG, auth="admin", role="owner",
         response=HallDetailSchema, many=True,
         summary="Every hall, inactive ones too, with its whole tariff and opening hours")
    def list_hall_details(self, request):
        return self.booking.list_hall_details()

    @api("POST", "/api/admin/halls", tag=TAG, auth="admin", role="owner", body=NewHallSchema,
         response=HallDetailSchema, status=201, errors=[409],
         summary="Create a hall (owner); 409 when another hall has its name")
    def create_hall(self, request, body):
        return self.booking.create_hall(body)

    @api("PATCH", "/api/admin/halls/<int:hall_id>", tag=TAG, auth="admin", role="owner",
         body=HallEditSchema, response=HallDetailSchema, errors=[404, 409],
         summary="Change a hall's fields (owner); existing bookings keep their price; "
                 "active=false stops new bookings")
    def update_hall(self, request, hall_id, body):
        return self.booking.update_hall(hall_id, body)

    @api("POST", "/api/admin/halls/price-preview", tag=TAG, auth="admin", role="owner",
         body=PricePreviewRequestSchema, response=PriceDaySchema, many=True,
         summary="The prices a tariff would give over a week, per weekday, before saving")
    def price_preview(self, request, body):
        return self.booking.price_preview(body["tariff"], body["opening_hours"])
