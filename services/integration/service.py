"""The integration service's Nameko entrypoints: every event of booking, payments and
notifications goes into the integration log; payments confirm bookings and cancellations
refund payments; operators search the log and retry what failed."""
import logging

from nameko.timer import timer

from services.common.clock import now
from services.common.config import Config
from services.common.db import ServiceDatabase
from services.common.inbox import (
    DEAD,
    DONE,
    FAILED,
    SKIPPED,
    Inbox,
    InboxRunner,
    ReliableConsumer,
    on_event,
    on_event_batches,
)
from services.common.input import given
from services.common.outbox import OutboxRelay
from services.common.rpc import Pingable, TimedRpcProxy, rpc
from services.integration import operations, operators, webhooks
from services.integration.models import Base
from services.integration.webhook_courier import WebhookDelivery
from services.integration.webhook_rules import WebhookSettings

log = logging.getLogger(__name__)

# A refund waits on the provider (its own HTTP timeout is 10 s): give it longer than the
# gateway's RPC timeout. A call that times out is retried by the inbox; refunds are idempotent.
PAYMENTS_RPC_TIMEOUT = 30

# Events that drive nothing here: only logged, in batches.
LOGGED_EVENTS = (
    ("booking", "booking.created"), ("booking", "booking.confirmed"),
    ("booking", "booking.payment_recorded"), ("booking", "booking.expired"),
    ("booking", "booking.completed"), ("booking", "hall.blocked"), ("booking", "hall.unblocked"),
    ("payments", "payment.failed"), ("payments", "payment.refunded"),
    ("payments", "payment.amount_mismatch"), ("payments", "payment.refund_failed"),
    ("notifications", "notification.sent"), ("notifications", "notification.failed"),
)


class LoggingInboxRunner(InboxRunner):
    """The shared inbox, plus: the log row shows how many tries a reaction took, a failure
    goes into the integration log in the same transaction as the inbox's record of it (the
    handler's own writes were rolled back), and every event handled is queued for the
    outbound webhooks that want it."""

    def decided(self, session, service, outcomes):
        for outcome in outcomes:
            if outcome.status == DONE:
                operations.count_attempts(session, outcome.envelope, outcome.attempts)
            elif outcome.status in (FAILED, DEAD):
                # An event too broken even to be logged must not take the inbox's record down.
                try:
                    with session.begin_nested():
                        operations.log_failure(session, outcome.envelope, outcome.status,
                                               outcome.error, outcome.attempts)
                except Exception:
                    log.exception("could not log the failure of %s on %s", outcome.handler,
                                  outcome.envelope.get("event_id"))
        # Outbound webhooks go out whatever the reaction's fate; a retry of the event adds no
        # second delivery.
        webhooks.enqueue(session, [outcome.envelope for outcome in outcomes
                                   if outcome.status != SKIPPED], now())


class LoggingInbox(Inbox):
    runner_class = LoggingInboxRunner


class OperatorSettings(Config):
    def build(self, config):
        return operators.Settings.from_config(config["OPERATORS"])


class AdminToken(Config):
    """The machine token, which signs in as the owner."""

    def build(self, config):
        return str(config.get("ADMIN_TOKEN") or "")


class WebhookConfig(Config):
    def build(self, config):
        return WebhookSettings.from_config(config)


class IntegrationService(Pingable, ReliableConsumer):
    name = "integration"

    db = ServiceDatabase(Base)
    outbox_relay = OutboxRelay()
    inbox = LoggingInbox()
    webhook_settings = WebhookConfig()
    webhook_delivery = WebhookDelivery()
    booking = TimedRpcProxy("booking")
    payments = TimedRpcProxy("payments", timeout=PAYMENTS_RPC_TIMEOUT)
    operator_settings = OperatorSettings()
    admin_token = AdminToken()

    # --- reactions ---
    @on_event("payments", "payment.succeeded")
    def payment_succeeded(self, session, event):
        operations.confirm_paid_booking(session, event, self.booking, self.payments)

    @on_event("booking", "booking.cancelled")
    def booking_cancelled(self, session, event):
        operations.refund_cancelled_booking(session, event, self.payments)

    @on_event("booking", "booking.rescheduled")
    def booking_rescheduled(self, session, event):
        operations.refund_rescheduled_booking(session, event, self.payments)

    # --- events that are only logged ---
    @on_event_batches(*LOGGED_EVENTS)
    def log_events(self, session, events):
        operations.log_events(session, events)

    # --- operators ---
    @rpc
    def list_events(self, type=None, booking_id=None, payment_id=None, source=None,
                    since=None, until=None, status=None, cursor=None, limit=50,
                    correlation_id=None):
        """{items, next_cursor}: the integration log newest first (by occurred_at, then
        event_id), filtered by type, booking_id, payment_id, source, status (logged | done |
        failed | dead), correlation_id (a request's whole chain) and occurred_at in
        [since, until) (ISO-8601; no offset means UTC). Pass next_cursor on for the next page.
        Each item: event_id, type, version, source, occurred_at, received_at, booking_id,
        payment_id, payload, status, reaction, outcome, attempts, correlation_id. Reads only."""
        filters = given(type=type, booking_id=booking_id, payment_id=payment_id, source=source,
                        since=since, until=until, status=status, cursor=cursor, limit=limit,
                        correlation_id=correlation_id)
        with self.db.get_session() as session:
            return operations.list_events(session, filters)

    @rpc
    def booking_chain(self, booking_id):
        """{booking_id, items}: every logged event of one booking (its own, its payments',
        its notifications'), in the order they happened. Reads only."""
        with self.db.get_session() as session:
            return operations.booking_chain(session, booking_id)

    @rpc
    def get_event(self, event_id):
        """One event of the log with its status and outcome. Raises EventNotFound."""
        with self.db.get_session() as session:
            return operations.get_event(session, event_id)

    @rpc
    def retry_event(self, event_id):
        """Run a failed or dead event's reaction again now; returns the event as logged after
        the try (status done, or failed/dead with the new outcome). Safe to repeat: the
        reactions are idempotent. Raises EventNotFound, EventNotRetryable (done or logged)."""
        with self.db.get_session() as session:
            operations.check_retryable(session, event_id)
        self.inbox.retry(self, event_id)
        return self.get_event(event_id)

    # --- operators of the dashboard: accounts, sessions, audit trail ---
    @rpc
    def create_operator(self, name, password, role):
        """A named operator account (role owner | manager | viewer), the password hashed
        with argon2id. Safe to repeat with the same name, role and password. Raises
        OperatorExists, InvalidRequest."""
        with self.db.get_session() as session:
            return operators.create_operator(
                session, {"name": name, "password": password, "role": role})

    @rpc
    def list_operators(self):
        """Every operator account by name: name, role, active, created_at."""
        with self.db.get_session() as session:
            return operators.list_operators(session)

    @rpc
    def update_operator(self, name, changes):
        """Change an operator's role, password or active flag ({role?, password?, active?});
        a new password or active=False ends their sessions. Raises OperatorNotFound."""
        with self.db.get_session() as session:
            return operators.update_operator(session, name, changes, now())

    @rpc
    def sign_in(self, credentials, ip=None, request_id=None):
        """Open a dashboard session for {name, password} or {token} (the ADMIN_TOKEN, as the
        owner): {session_token, operator, expires_at}. Every try is in the audit trail;
        OPERATORS.sign_in_max_failures failures per name or address within the window lock
        sign-in (TooManySignInAttempts). Raises SignInRefused."""
        with self.db.get_session() as session:
            opened, refusal = operators.sign_in(session, self.operator_settings, credentials,
                                                self.admin_token, ip, request_id, now())
        if refusal is not None:
            raise refusal
        return opened

    @rpc
    def session_operator(self, session_token):
        """The operator of a live session ({name, role, active, expires_at}); keeps it alive.
        Raises SessionEnded."""
        with self.db.get_session() as session:
            return operators.session_operator(session, self.operator_settings, session_token,
                                              now())

    @rpc
    def sign_out(self, session_token, ip=None, request_id=None):
        """End a session; harmless to repeat."""
        with self.db.get_session() as session:
            return operators.sign_out(session, session_token, ip, request_id, now())

    @rpc
    def record_action(self, entry):
        """Add an operator's action to the audit trail: {operator, role, action, target,
        booking_id, details, outcome, ip, request_id}. Secrets in details are dropped."""
        with self.db.get_session() as session:
            return operators.record_action(session, entry)

    @rpc
    def record_outcome(self, audit_id, outcome, booking_id=None):
        """How the action of a pending audit entry ended ("ok" or the error's code), and the
        booking it made if the entry names none; harmless to repeat."""
        with self.db.get_session() as session:
            operators.record_outcome(session, audit_id, outcome, booking_id)

    @rpc
    def list_audit(self, booking_id=None, operator=None, cursor=None, limit=50):
        """{items, next_cursor}: the audit trail newest first, by booking or operator."""
        filters = given(booking_id=booking_id, operator=operator, cursor=cursor, limit=limit)
        with self.db.get_session() as session:
            return operators.list_audit(session, filters)

    @timer(interval=3600)
    def forget_ended_sessions(self):
        with self.db.get_session() as session:
            operators.forget_ended_sessions(session, now())

    # --- outbound webhooks (operators) ---
    @rpc
    def create_webhook_endpoint(self, endpoint, request_id=None):
        """Register an endpoint: {url, event_types: ["booking.*", ...], description?,
        active?, include_personal_data?}. The answer carries its signing `secret` (whsec_...),
        shown only here. Every event it wants from now on is POSTed to it, signed per the
        Standard Webhooks specification, at least once. Idempotent per request_id."""
        with self.db.get_session() as session:
            return webhooks.register_endpoint(session, self.webhook_settings, endpoint, now(),
                                              request_id)

    @rpc
    def update_webhook_endpoint(self, endpoint_id, changes):
        """Change url, event_types, description, include_personal_data or active
        (active=True re-enables an endpoint that was disabled; its waiting deliveries go)."""
        with self.db.get_session() as session:
            return webhooks.update_endpoint(session, self.webhook_settings, endpoint_id,
                                            changes, now())

    @rpc
    def rotate_webhook_secret(self, endpoint_id, overlap_hours=None):
        """A new signing secret (shown only in this answer); the previous one keeps signing
        too for overlap_hours (default WEBHOOKS.secret_overlap_hours)."""
        with self.db.get_session() as session:
            return webhooks.rotate_secret(session, self.webhook_settings, endpoint_id, now(),
                                          overlap_hours)

    @rpc
    def reseal_webhook_secrets(self):
        """Seal every endpoint's secrets under the first of WEBHOOK_SECRET_KEYS (after putting
        a new key first; the old one may go once this is done). How many endpoints."""
        with self.db.get_session() as session:
            return webhooks.reseal_secrets(session, self.webhook_settings)

    @rpc
    def list_webhook_endpoints(self):
        """Every endpoint (never its secret). Reads only."""
        with self.db.get_session() as session:
            return webhooks.list_endpoints(session)

    @rpc
    def get_webhook_endpoint(self, endpoint_id):
        """One endpoint (never its secret). Raises WebhookEndpointNotFound."""
        with self.db.get_session() as session:
            return webhooks.get_endpoint(session, endpoint_id)

    @rpc
    def list_webhook_deliveries(self, endpoint_id, status=None, cursor=None, limit=50):
        """{items, next_cursor}: an endpoint's deliveries newest first (status pending |
        delivered | failed), with attempts, the last response code and excerpt, next try."""
        filters = {k: v for k, v in dict(status=status, cursor=cursor, limit=limit).items()
                   if v is not None}
        with self.db.get_session() as session:
            return webhooks.list_deliveries(session, endpoint_id, filters)

    @rpc
    def resend_webhook_delivery(self, delivery_id):
        """Send one delivery again now, with a fresh round of tries (same webhook-id)."""
        with self.db.get_session() as session:
            return webhooks.resend(session, delivery_id, now())

    @rpc
    def replay_webhooks(self, endpoint_id, since):
        """Queue again every event the endpoint wants that occurred since `since` (ISO-8601),
        from the integration log; returns {endpoint_id, queued}."""
        with self.db.get_session() as session:
            return webhooks.replay_since(session, endpoint_id, since, now())
