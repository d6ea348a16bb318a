"""A stand-in `payments` for the integration service's retry tests: it answers refund and
refund_booking like the real one (idempotent by request_id) and can be told to fail."""
import time
import uuid

from services.common.rpc import Pingable, rpc
from contracts.errors.payments import PaymentProviderFailed

# One process, one state: what the tests ask about.
CALLS = []
REFUNDS = {}
FAILING = {}


class FakePaymentsService(Pingable):
    name = "payments"

    def _call(self, method, request_id, **args):
        CALLS.append({"method": method, "request_id": request_id, "at": time.time(), **args})
        left = FAILING.get(method, 0)
        if left:
            FAILING[method] = left - 1 if left > 0 else left
            raise PaymentProviderFailed("The provider did not answer (told to fail).",
                                        {"method": method})
        if request_id not in REFUNDS:
            REFUNDS[request_id] = {"id": str(uuid.uuid4()), "method": method,
                                   "request_id": request_id, **args}
        return REFUNDS[request_id]

    @rpc
    def refund(self, payment_id, amount=None, reason=None, request_id=None):
        refund = self._call("refund", request_id, payment_id=payment_id, amount=amount,
                            reason=reason)
        return {"refund": {"id": refund["id"], "amount": 1000, "status": "succeeded",
                           "request_id": request_id}, "payment": {"id": payment_id}}

    @rpc
    def refund_booking(self, booking_id, amount, reason=None, request_id=None):
        self._call("refund_booking", request_id, booking_id=booking_id, amount=amount,
                   reason=reason)
        return {"booking_id": booking_id, "request_id": request_id, "amount": amount,
                "refunded": amount, "not_covered": 0, "refunds": []}

    @rpc
    def fail(self, method, times=-1):
        """The next `times` calls of `method` fail (-1: every call, until heal)."""
        FAILING[method] = times

    @rpc
    def heal(self):
        FAILING.clear()

    @rpc
    def recorded(self):
        return {"calls": CALLS, "refunds": REFUNDS}
