"""The payments service's Nameko entrypoints: payments, webhooks, refunds, reconciliation."""
import logging

import requests
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.clock import now
from services.common.db import ServiceDatabase
from services.common.inbox import ReliableConsumer
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, TimedRpcProxy, rpc
from services.common.timers import configured_timer
from services.payments import creating, mock_checkout, refunds, reports, views, webhooks
from services.payments.config import MOCK, Gateways, Settings
from services.payments.models import Base

log = logging.getLogger(__name__)
MOCK_WEBHOOK_TIMEOUT_SECONDS = 10


# One HTTP session for the mock's webhooks: its connections to the gateway are kept open
# between deliveries rather than made for each one.
_webhook_http = requests.Session()


def post_webhook(url, body, headers):
    return _webhook_http.post(url, data=body, headers=headers,
                              timeout=MOCK_WEBHOOK_TIMEOUT_SECONDS).status_code


class PaymentGateways(DependencyProvider):
    """The provider adapters of this PAYMENT_ENV and the PAYMENTS settings.

    With PAYMENT_ENV=mock it also runs the mock provider's own side: it reads the outcomes
    recorded at the mock checkout (for the mock's `fetch`) and delivers the mock's webhooks
    outside any worker. It borrows the service's own database pool (no pool of its own: the
    PostgreSQL connection budget is shared by every service).
    """

    def setup(self):
        config = self.container.config
        self.settings = Settings.from_config(config["PAYMENTS"], config["PUBLIC_URL"])
        self.gateways = Gateways.from_config(config["PAYMENTS"], self.settings.env,
                                             mock_state_lookup=self.mock_state)

    def _sessions(self):
        database = next(dependency for dependency in self.container.dependencies
                        if isinstance(dependency, ServiceDatabase))
        return database.Session(close_on_exit=True)

    def mock_state(self, payment_id):
        with self._sessions() as session:
            return mock_checkout.mock_state(session, payment_id)

    def deliver_mock_webhooks(self, deliveries=None):
        if self.settings.env != MOCK:
            return 0
        return mock_checkout.deliver_mock_webhooks(self._sessions, self.settings, post_webhook,
                                                   now(), deliveries)

    def deliver_soon(self, delivery):
        """Try a checkout's webhook now, without keeping the payer waiting."""
        self.container.spawn_managed_thread(lambda: self.deliver_mock_webhooks([delivery]))

    def get_dependency(self, worker_ctx):
        return self


class PaymentsService(Pingable, ReliableConsumer):
    name = "payments"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    booking = TimedRpcProxy("booking")
    providers = PaymentGateways()

    def _sessions(self):
        return self.db.get_session(close_on_exit=True)

    def _booking(self, booking_id, access_token):
        return self.booking.get_booking(booking_id, access_token=access_token)

    @rpc
    def create_payment(self, booking_id, kind, gateway, return_url=None, idempotency_key=None,
                       access_token=None):
        """Start a payment of a booking: kind prepayment | full | remainder; the amount comes
        from the booking (with access_token, only for that booking's token). Returns {id,
        booking_id, kind, amount, currency, gateway, status, confirmation_url}. A pending
        payment of the same booking and kind is returned, not duplicated; the same
        idempotency_key returns the first answer (IdempotencyKeyReused for another request).
        Raises BookingNotPayable, PaymentProviderFailed (nothing charged)."""
        data = {"booking_id": booking_id, "kind": kind, "gateway": gateway,
                "return_url": return_url}
        return creating.create_payment(self._sessions, self.providers.gateways,
                                       self._booking, self.providers.settings, data, now(),
                                       idempotency_key, access_token)

    @rpc
    def get_payment(self, payment_id, access_token=None):
        """A payment with its refunds; with access_token, only for its booking's token."""
        return views.get_payment(self._sessions, self._booking, payment_id, access_token)

    @rpc
    def list_payments(self, booking_id=None, status=None, limit=50):
        """{items}: payments, newest first, of a booking and/or in a status (operators)."""
        filters = given(booking_id=booking_id, status=status, limit=limit)
        return views.list_payments(self._sessions, filters)

    @rpc
    def takings(self, start, end, timezone_name):
        """Money in and refunds out per (local day, provider, booking) in [start, end)
        (ISO-8601), aggregated in SQL: [{day, provider, booking_id, money_in, refunds,
        payments, refund_count}] in kopecks. Reads only."""
        with self._sessions() as session:
            return reports.takings(session, start, end, timezone_name)

    @rpc
    def payment_problems(self, pending_after_minutes=30):
        """{pending_payments, failed_refunds, counts}: payments still pending at the provider
        after `pending_after_minutes`, and refunds that failed. Reads only."""
        with self._sessions() as session:
            return reports.problems(session, now(), pending_after_minutes)

    @rpc
    def handle_webhook(self, gateway, headers, body, query=None, remote_addr=None):
        """A provider's notification, as the gateway received it: `body` is the raw request
        body in base64 (signatures are over the exact bytes), `query` {name: [values]}.
        Proven genuine first (WebhookForged, 403, otherwise) and recorded once; may emit
        payment.succeeded / payment.failed / payment.amount_mismatch. Returns {status,
        content_type, body}: the reply that provider expects."""
        return webhooks.handle_webhook(self._sessions, self.providers.gateways, gateway,
                                       headers, body, query, remote_addr, now())

    @rpc
    def refund(self, payment_id, amount=None, reason=None, request_id=None):
        """Refund `amount` kopecks (default: all not yet refunded) through the provider.
        Idempotent by request_id. Never more than paid minus refunded (RefundExceedsPayment).
        Returns {refund, payment}; emits payment.refunded once the provider confirms."""
        return refunds.refund(self._sessions, self.providers.gateways, payment_id, now(),
                              amount, reason, request_id)

    @rpc
    def refund_booking(self, booking_id, amount, reason=None, request_id=None):
        """Refund `amount` kopecks across the booking's succeeded payments, newest first.
        Idempotent by request_id (required). Returns {booking_id, request_id, amount,
        refunded, not_covered, refunds}; PaymentProviderFailed means: repeat later."""
        return refunds.refund_booking(self._sessions, self.providers.gateways, booking_id,
                                      amount, reason, request_id, now())

    # --- the mock provider (PAYMENT_ENV=mock) ---
    @rpc
    def get_mock_checkout(self, payment_id):
        """What the mock checkout page of a payment shows, with the test cards it takes."""
        return mock_checkout.mock_checkout_page(self._sessions, self.providers.gateways,
                                                payment_id)

    @rpc
    def mock_checkout(self, payment_id, card_number):
        """The payer paid on the mock checkout page: 4242424242424242 pays, 4000000000000002
        is declined. The signed webhook is delivered right after, with retries. Returns
        {payment_id, outcome, return_url}."""
        result, first_delivery = mock_checkout.mock_checkout(
            self._sessions, self.providers.gateways, self.providers.settings, payment_id,
            card_number, now())
        if first_delivery is not None:
            self.providers.deliver_soon(first_delivery)
        return result

    @timer(interval=1)
    def deliver_mock_webhooks(self):
        self.providers.deliver_mock_webhooks()

    @configured_timer("PAYMENTS", "reconcile_interval_seconds")
    def reconcile_pending(self):
        webhooks.reconcile(self._sessions, self.providers.gateways, self.providers.settings,
                           now())
        refunds.reconcile_refunds(self._sessions, self.providers.gateways,
                                  self.providers.settings, now())
        creating.forget_idempotency_keys(self._sessions, self.providers.settings, now())
