"""Closures of the studio's time over HTTP (operators): blocks and special days, each one RPC
to `booking`."""
from contracts.closures import (
    BlockListSchema,
    BlockQuerySchema,
    BlockSchema,
    MadeBlocksSchema,
    NewBlockSchema,
    SpecialDayEditSchema,
    SpecialDayKeySchema,
    SpecialDayListSchema,
    SpecialDayQuerySchema,
    SpecialDaySchema,
)
from gateway.http import api

TAG = "closures"


class ClosuresApi:
    @api("GET", "/api/admin/blocks", tag=TAG, auth="admin", query=BlockQuerySchema,
         response=BlockListSchema, summary="Blocks of the halls' time meeting the local days")
    def list_blocks(self, request, query):
        return self.booking.list_blocks(**query)

    @api("POST", "/api/admin/blocks", tag=TAG, auth="admin", body=NewBlockSchema,
         response=MadeBlocksSchema, status=201, errors=[404, 409], idempotency_key=True,
         with_operator=True,
         summary="Close a hall (hall_id null: every hall) from start to end: customers no "
                 "longer see the time and no booking can take it. Active bookings there "
                 "refuse it (409 block_hits_bookings listing them) unless force")
    def create_block(self, request, body, operator):
        return self.booking.create_block(body, created_by=operator.name,
                                         request_id=request.headers.get("Idempotency-Key"))

    @api("DELETE", "/api/admin/blocks/<block_id>", tag=TAG, auth="admin",
         response=BlockSchema, errors=[404], with_operator=True,
         summary="Open a block's time again")
    def delete_block(self, request, block_id, operator):
        return self.booking.delete_block(block_id, by=operator.name)

    @api("GET", "/api/admin/special-days", tag=TAG, auth="admin", query=SpecialDayQuerySchema,
         response=SpecialDayListSchema, summary="Dates with hours of their own")
    def list_special_days(self, request, query):
        return self.booking.list_special_days(**query)

    @api("PUT", "/api/admin/special-days/<day>", tag=TAG, auth="admin",
         body=SpecialDayEditSchema, response=SpecialDaySchema, errors=[404],
         summary="Hours of its own for a date (a short day before a holiday; null: closed), "
                 "for one hall or every hall; lists the bookings outside the new hours")
    def set_special_day(self, request, day, body):
        return self.booking.set_special_day(day, **body)

    @api("DELETE", "/api/admin/special-days/<day>", tag=TAG, auth="admin",
         query=SpecialDayKeySchema, response=SpecialDaySchema,
         summary="The date keeps the week's hours again")
    def delete_special_day(self, request, day, query):
        return self.booking.delete_special_day(day, **query)
