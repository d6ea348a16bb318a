"""The payments service's use cases.

No nameko here: what a use case works with is handed in, so tests drive it against a plain
database, the fake providers and a stand-in for the booking service:

  sessions()      a new unit of work: a context manager yielding a session that commits on
                  exit and rolls back on error (ServiceDatabase.get_session in the service)
  gateways        `Gateways`: the provider adapter serving each gateway in this PAYMENT_ENV
  booking_lookup  (booking_id, access_token) -> the booking's view; raises AccessDenied or
                  BookingNotFound (the booking service's get_booking, by RPC)
  now             the time (aware)

A use case that talks to a provider does it between two transactions, never inside one: no
row lock and no connection is held while a provider thinks.
"""
import base64
import binascii
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from marshmallow import ValidationError

from contracts import schema
from contracts.payments import (CreatePaymentSchema, PaymentListQuerySchema,
                                RefundBookingSchema, RefundRequestSchema)
from services.common.errors import InvalidRequest
from services.common.outbox import record_event
from services.payments import store
from services.payments.exceptions import (BookingNotPayable, CheckoutClosed,
                                          IdempotencyKeyReused, InvalidCardNumber,
                                          PaymentInProgress, PaymentNotFound,
                                          PaymentNotRefundable, PaymentProviderFailed,
                                          RefundExceedsPayment, UnknownGateway, WebhookForged)
from services.payments.models import MockCheckoutRow, PaymentRow, RefundRow
from services.payments.providers import (MockProvider, NotificationForged, ProviderError,
                                         ProviderRefund, build_provider)
from services.payments.providers.base import (CANCELED, FAILED, PARTIALLY_REFUNDED, PENDING,
                                              REFUND_FAILED, REFUND_SUCCEEDED, REFUNDED,
                                              SUCCEEDED)
from services.payments.providers.mock import (SIGNATURE_HEADER, build_notification,
                                              card_outcome, sign)

log = logging.getLogger(__name__)

SOURCE = "payments"
AMOUNT_MISMATCH = "amount_mismatch"
PAYMENT_ENVS = ("mock", "test", "production")
REAL_GATEWAYS = ("yookassa", "sberpay", "tinkoff")
MOCK = "mock"
# A payment whose provider call started less than this ago is taken to be in flight (every
# adapter gives up on a provider well within it): a repeat waits instead of sending again.
IN_FLIGHT_SECONDS = 60
MOCK_DELIVERY_LEASE_SECONDS = 30
MOCK_DELIVERY_MAX_ATTEMPTS = 8
KIND_WORDS = {"prepayment": "Prepayment", "full": "Payment", "remainder": "Remainder"}


# --- configuration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """PAYMENTS from config.yaml, as the use cases need it."""
    env: str = MOCK
    reconcile_after: timedelta = timedelta(minutes=10)
    reconcile_interval: timedelta = timedelta(seconds=60)
    pending_lifetime: timedelta = timedelta(minutes=60)
    idempotency_key_lifetime: timedelta = timedelta(hours=24)
    default_return_url: str = "http://127.0.0.1:8000/"
    # hosts a payer may be sent back to: anything else would make checkout an open redirect
    return_url_hosts: tuple = ()
    mock_webhook_url: str = ""
    mock_webhook_secret: str = ""

    @classmethod
    def from_config(cls, payments, public_url="http://127.0.0.1:8000"):
        env = str(payments.get("env") or MOCK).strip().lower()
        if env not in PAYMENT_ENVS:
            raise ValueError(f"PAYMENT_ENV must be one of {', '.join(PAYMENT_ENVS)}, not {env!r}")
        mock = (payments.get("providers") or {}).get(MOCK) or {}
        return cls(
            env=env,
            reconcile_after=timedelta(minutes=float(payments["reconcile_after_minutes"])),
            reconcile_interval=timedelta(seconds=float(payments["reconcile_interval_seconds"])),
            pending_lifetime=timedelta(minutes=float(payments["pending_lifetime_minutes"])),
            idempotency_key_lifetime=timedelta(
                hours=float(payments.get("idempotency_key_hours", 24))),
            default_return_url=str(payments.get("default_return_url") or cls.default_return_url),
            return_url_hosts=tuple(host.strip().lower() for host in
                                   str(payments.get("return_url_hosts") or "").split(",")
                                   if host.strip()),
            mock_webhook_url=str(mock.get("webhook_url") or
                                 f"{str(public_url).rstrip('/')}/api/payments/webhook/mock"),
            mock_webhook_secret=str(mock.get("webhook_secret") or ""),
        )


class Gateways:
    """Which provider adapter serves which gateway.

    With PAYMENT_ENV=mock every gateway a customer picks is served by the mock provider (no
    call leaves the machine) and the payment remembers both: `gateway` as picked, `provider`
    as used. In test and production the mock does not exist at all: its webhook secret has a
    public default, and a mock webhook there would be free money.
    """

    def __init__(self, env, adapters):
        self.env = env
        self.adapters = dict(adapters)

    @classmethod
    def from_config(cls, payments, env, mock_state_lookup=None):
        providers = payments.get("providers") or {}
        adapters = {name: build_provider(name, providers.get(name)) for name in REAL_GATEWAYS}
        if env == MOCK:
            settings = dict(providers.get(MOCK) or {})
            # config.yaml holds the checkout page's base URL (no braces in config values).
            settings["checkout_url"] = settings["checkout_url"].rstrip("/") + "/{payment_id}"
            adapters[MOCK] = MockProvider(settings, state_lookup=mock_state_lookup)
        return cls(env, adapters)

    def provider_for_new_payment(self, gateway):
        if self.env == MOCK and MOCK in self.adapters:
            return MOCK
        if gateway in self.adapters and gateway != MOCK:
            return gateway
        raise InvalidRequest("This payment gateway is not available here.",
                             {"gateway": [f"not available with PAYMENT_ENV={self.env}"]})

    def adapter(self, name):
        try:
            return self.adapters[name]
        except KeyError:
            raise UnknownGateway(f"There is no payment gateway {name!r} here.",
                                 {"gateway": name}) from None

    @property
    def mock(self):
        return self.adapter(MOCK)


# --- views: what callers get back ------------------------------------------------------------

def _iso(moment):
    return moment.isoformat() if moment else None


def refund_view(row):
    return {"id": row.id, "payment_id": row.payment_id, "amount": row.amount,
            "status": row.status, "reason": row.reason, "request_id": row.request_id,
            "created_at": _iso(row.created_at)}


def created_view(row):
    """The answer to create_payment (and what an Idempotency-Key repeat gets back)."""
    return {"id": row.id, "booking_id": row.booking_id, "kind": row.kind, "amount": row.amount,
            "currency": row.currency, "gateway": row.gateway, "status": row.status,
            "confirmation_url": row.confirmation_url}


def payment_view(row, refunds=()):
    return {**created_view(row), "refunded_amount": row.refunded_amount,
            "provider_payment_id": row.provider_payment_id,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "refunds": [refund_view(r) for r in refunds]}


def event_payload(row, **extra):
    """The public payload of every payment.* event (contracts.payments:
    PaymentEventPayloadSchema)."""
    return {"payment_id": row.id, "booking_id": row.booking_id, "kind": row.kind,
            "amount": row.amount, "currency": row.currency, "gateway": row.gateway,
            "status": row.status, "refunded_amount": row.refunded_amount, **extra}


def _record(session, event_type, row, **extra):
    record_event(session, SOURCE, event_type, event_payload(row, **extra))


# --- input -----------------------------------------------------------------------------------

def load(schema_cls, data):
    """Validate RPC input with the contract schema; bad fields become InvalidRequest (422)."""
    try:
        return schema(schema_cls).load(data or {})
    except ValidationError as exc:
        raise InvalidRequest("Some fields are invalid.", exc.messages)


def _request_hash(booking_id, kind, gateway, return_url):
    canonical = json.dumps({"booking_id": booking_id, "kind": kind, "gateway": gateway,
                            "return_url": return_url}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotency_key(value):
    if value is None:
        return None
    key = str(value).strip()
    if not key or len(key) > 255:
        raise InvalidRequest("The Idempotency-Key is not usable.",
                             {"Idempotency-Key": ["1 to 255 characters"]})
    return key


# --- creating a payment ------------------------------------------------------------------------

def amount_due(booking, kind, taken_here):
    """Kopecks a payment of this kind is for, from the booking alone; BookingNotPayable when
    it takes none. `taken_here` is what our own settled payments hold: a payment may have
    succeeded before the booking has recorded it, and it must not be asked for twice."""
    details = {"booking_id": booking["id"], "status": booking["status"], "kind": kind}
    if booking["status"] not in ("pending_payment", "confirmed"):
        raise BookingNotPayable(f"The booking is {booking['status']}: it takes no payment.",
                                details)
    paid = max(int(booking["amount_paid"]), int(taken_here))
    due = int(booking["price_total"]) - paid
    if due <= 0:
        raise BookingNotPayable("The booking is paid in full.", details)
    if kind == "prepayment":
        if paid > 0:
            raise BookingNotPayable("A prepayment was made already: pay the remainder.",
                                    details)
        if int(booking["prepayment_amount"]) <= 0:
            raise BookingNotPayable("This booking takes no prepayment: pay in full.", details)
        return min(int(booking["prepayment_amount"]), due)
    if kind == "remainder" and paid == 0:
        raise BookingNotPayable("Nothing was prepaid yet: pay the prepayment or in full.",
                                details)
    return due


def _description(booking, kind):
    start = str(booking.get("start") or "")[:16].replace("T", " ")
    return f"{KIND_WORDS[kind]}: {booking.get('hall_name') or 'studio'}, {start}"[:128]


def create_payment(sessions, gateways, booking_lookup, settings, data, now,
                   idempotency_key=None, access_token=None):
    """Start a payment of a booking; the amount comes from the booking, never the caller.

    How a crash cannot lose track of money: the pending row (our id = the provider's
    idempotency key / OrderId) is committed BEFORE the provider is called, and the provider's
    answer is written in a second transaction. A crash between the two leaves a pending row
    without a provider id, which a repeat of the request resumes with the same id (YooKassa
    returns the first payment for the same key; T-Bank and Sber refuse a second order with
    the same number, so nothing is charged twice). If the provider refuses or never answers,
    the attempt is marked failed: its confirmation URL never reached the payer, so nobody can
    have paid it, and the next request starts a fresh attempt. Reconciliation fails attempts
    that stayed without a provider id. Holding a transaction open across the provider call
    instead would pin a connection and a row lock on a provider's latency.
    """
    request = load(CreatePaymentSchema, data)
    booking_id, kind = str(request["booking_id"]), request["kind"]
    gateway, return_url = request["gateway"], request["return_url"]
    _check_return_url(settings, return_url)
    key = _idempotency_key(idempotency_key)
    provider_name = gateways.provider_for_new_payment(gateway)
    # The booking service checks the caller's token first, so an idempotency key can never
    # hand out the answer made for somebody else's booking.
    booking = booking_lookup(booking_id, access_token)
    request_hash = _request_hash(booking_id, kind, gateway, return_url)

    with sessions() as session:
        key_row = None
        if key is not None:
            key_row = store.claim_idempotency_key(session, key, request_hash)
            if key_row.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request.",
                    {"Idempotency-Key": key})
            if key_row.response is not None:
                return key_row.response
        payment, started_here = _payment_to_start(
            session, key_row, booking, kind, gateway, provider_name, return_url, now)
        if key_row is not None:
            key_row.payment_id = payment.id
        if payment.provider_payment_id is not None:
            answer = created_view(payment)
            if key_row is not None:
                key_row.response = answer
            return answer
        if not started_here and payment.updated_at > now - timedelta(seconds=IN_FLIGHT_SECONDS):
            raise PaymentInProgress("This payment is being started right now; ask again in a "
                                    "moment.", {"payment_id": payment.id})
        payment.updated_at = now  # the provider call starts now (see IN_FLIGHT_SECONDS)

    return _start_at_provider(sessions, gateways, settings, payment, key)


def _check_return_url(settings, return_url):
    hosts = settings.return_url_hosts or (urlsplit(settings.default_return_url).hostname,)
    if return_url is not None and (urlsplit(return_url).hostname or "").lower() not in hosts:
        raise InvalidRequest("The payer can only be sent back to the studio's own site.",
                             {"return_url": [f"the host must be one of: {', '.join(hosts)}"]})


def _payment_to_start(session, key_row, booking, kind, gateway, provider_name, return_url,
                      now):
    """(payment row, created by this call?): the key's pending payment, the booking's pending
    payment of this kind, or a new pending one."""
    if key_row is not None and key_row.payment_id is not None:
        earlier = store.find_payment(session, key_row.payment_id)
        if earlier is not None and earlier.status == PENDING:
            return earlier, False
    existing = store.pending_payment(session, booking["id"], kind)
    if existing is not None:
        return existing, False
    amount = amount_due(booking, kind, store.money_taken_for_booking(session, booking["id"]))
    row = PaymentRow(
        id=str(uuid.uuid4()), booking_id=booking["id"], kind=kind, amount=amount,
        currency=booking["currency"], gateway=gateway, provider=provider_name,
        status=PENDING, return_url=return_url, description=_description(booking, kind),
        refunded_amount=0, provider_state={}, created_at=now, updated_at=now)
    if store.insert_payment(session, row):
        return row, True
    # A concurrent request made the booking's pending payment of this kind first.
    winner = store.pending_payment(session, booking["id"], kind)
    if winner is None:
        raise PaymentInProgress("Another payment of this booking was being made; ask again.",
                                {"booking_id": booking["id"]})
    return winner, False


def _start_at_provider(sessions, gateways, settings, payment, key):
    provider = gateways.adapter(payment.provider)
    try:
        started = provider.create_payment(
            payment.id, payment.amount, payment.currency, payment.description,
            payment.return_url or settings.default_return_url,
            {"booking_id": payment.booking_id, "kind": payment.kind})
    except ProviderError as exc:
        log.warning("payment %s: %s could not start it: %s", payment.id, payment.provider, exc)
        with sessions() as session:
            row = store.load_payment(session, payment.id, for_update=True)
            if row.status == PENDING and row.provider_payment_id is None:
                row.status = FAILED
                row.provider_state = {"error": str(exc)}
        raise PaymentProviderFailed("The payment provider could not start the payment; "
                                    "nothing was charged. Try again.",
                                    {"gateway": payment.gateway})
    with sessions() as session:
        row = store.load_payment(session, payment.id, for_update=True)
        if row.provider_payment_id is None:
            row.provider_payment_id = str(started.provider_payment_id)
            row.confirmation_url = started.confirmation_url
            row.provider_state = started.raw or {}
        answer = created_view(row)
        if key is not None:
            key_row = store.idempotency_key(session, key)
            if key_row is not None and key_row.response is None:
                key_row.response = answer
    return answer


# --- reading -----------------------------------------------------------------------------------

def get_payment(sessions, booking_lookup, payment_id, access_token=None):
    """A payment; with access_token, only if it is the token of the payment's booking."""
    with sessions() as session:
        row = store.load_payment(session, payment_id)
        view = payment_view(row, store.refunds_of(session, row.id))
    if access_token is not None:
        booking_lookup(row.booking_id, access_token)  # AccessDenied unless it is that booking's
    return view


def list_payments(sessions, filters):
    query = load(PaymentListQuerySchema, filters)
    with sessions() as session:
        rows = store.list_payments(session, query.get("booking_id"), query.get("status"),
                                   query["limit"])
        return {"items": [payment_view(row, store.refunds_of(session, row.id))
                          for row in rows]}


# --- what the provider says: webhooks and reconciliation ------------------------------------------

def settle(session, row, state, now):
    """Apply the provider's word on a payment: a verified notification, or the payment as
    fetched from the provider. The one path for webhooks and reconciliation.

    Money the provider says was taken always wins: a payment we had given up on (failed or
    canceled) that the provider reports succeeded becomes succeeded. It never does unless
    the amount and currency are exactly what we asked for; otherwise it is amount_mismatch
    and operators are alerted (payment.amount_mismatch). Refunds are moved by `refund`,
    except one the provider reports beyond ours (made in its dashboard): that is recorded
    here (`_take_refunds_made_at_the_provider`).
    """
    if state.raw:
        row.provider_state = state.raw
    if row.provider_payment_id is None and state.provider_payment_id:
        row.provider_payment_id = str(state.provider_payment_id)
    if state.status == SUCCEEDED and row.status in (PENDING, FAILED, CANCELED):
        row.updated_at = now
        if (state.amount, state.currency) != (row.amount, row.currency):
            log.error("payment %s: the provider reports %s %s, we asked for %s %s",
                      row.id, state.amount, state.currency, row.amount, row.currency)
            row.status = AMOUNT_MISMATCH
            _record(session, "payment.amount_mismatch", row, reported_amount=state.amount,
                    reported_currency=state.currency)
            return
        row.status = SUCCEEDED
        _record(session, "payment.succeeded", row)
    elif state.status in (FAILED, CANCELED) and row.status == PENDING:
        row.updated_at = now
        row.status = state.status
        _record(session, "payment.failed", row)
    elif state.status in (PARTIALLY_REFUNDED, REFUNDED) and row.status == PENDING:
        log.warning("payment %s: the provider reports refunds of a payment we never saw "
                    "succeed; left for an operator", row.id)
    if row.status in (SUCCEEDED, PARTIALLY_REFUNDED):
        _take_refunds_made_at_the_provider(session, row, state, now)


def _take_refunds_made_at_the_provider(session, row, state, now):
    """The provider counts more refunded than we have, even with our refunds under way:
    someone refunded in the provider's dashboard. Record it as a succeeded refund, so the
    payment, what is still refundable and the customer's message agree with the provider."""
    reported = getattr(state, "refunded_amount", None)
    if reported is None:
        return
    extra = (min(reported, row.amount) - row.refunded_amount
             - store.amount_being_refunded(session, row.id))
    if extra <= 0:
        return
    log.warning("payment %s: %d kopecks refunded at the provider, not through us", row.id,
                extra)
    refund_id = str(uuid.uuid4())
    refund_row = RefundRow(id=refund_id, payment_id=row.id, amount=extra, status="succeeded",
                           reason="refunded at the provider", request_id=f"provider:{refund_id}",
                           provider_state=state.raw or {}, created_at=now, updated_at=now)
    session.add(refund_row)
    _count_refund(session, row, refund_row, now)


def decode_body(body):
    """The raw webhook body: base64 over RPC, so the signed bytes arrive exactly."""
    if body is None:
        return b""
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidRequest("The webhook body must be passed as base64.",
                             {"body": ["not base64"]}) from None


def handle_webhook(sessions, gateways, gateway_name, headers, body, query, remote_addr, now):
    """A provider's notification: proven genuine first (else WebhookForged, nothing changes),
    recorded once (a repeat is answered as success and changes nothing), then, where the
    provider's word is only a hint, the payment is fetched back and only that is acted on.
    Returns {status, content_type, body}: the reply the provider expects."""
    provider = gateways.adapter(gateway_name)
    raw = decode_body(body)
    try:
        notification = provider.verify_notification(dict(headers or {}), raw, query or {},
                                                    remote_addr)
    except NotificationForged as exc:
        log.warning("%s webhook from %s refused: %s", gateway_name, remote_addr, exc)
        raise WebhookForged("The notification could not be proven genuine.",
                            {"gateway": gateway_name})
    status, content_type, reply_body = provider.notification_reply()
    reply = {"status": status, "content_type": content_type, "body": reply_body}

    with sessions() as session:
        if store.notification_seen(session, gateway_name, notification.dedupe_key):
            return reply
        row = store.payment_for_notification(session, gateway_name, notification)
        ours = row is not None and (
            row.provider_payment_id is None or notification.provider_payment_id is None
            or str(notification.provider_payment_id) == row.provider_payment_id)
        if not ours:
            # Not a payment of ours: recorded and acknowledged, so it is not sent for a day.
            log.warning("%s notification %s is for no payment of ours", gateway_name,
                        notification.dedupe_key)
            store.record_notification(session, gateway_name, notification.dedupe_key, None,
                                      notification.raw)
            return reply
        payment_id, provider_payment_id = row.id, row.provider_payment_id

    state = notification
    if (provider.must_fetch_after_notification or notification.amount is None
            or notification.currency is None):
        state = fetch_state(provider, str(notification.provider_payment_id
                                          or provider_payment_id))
    # A claim the provider's own answer does not (yet) bear out is acted on as fetched but
    # not recorded as seen, so the genuine notification that follows is not skipped as its
    # repeat. (`settle` itself moves a payment at most once, whatever arrives twice.)
    confirmed = notification.status is None or state.status == notification.status

    with sessions() as session:
        if confirmed and not store.record_notification(
                session, gateway_name, notification.dedupe_key, payment_id, notification.raw):
            return reply  # a concurrent delivery of the same notification got here first
        settle(session, store.load_payment(session, payment_id, for_update=True), state, now)
    return reply


def fetch_state(provider, provider_payment_id):
    try:
        return provider.fetch(provider_payment_id)
    except ProviderError as exc:
        # Unanswered, the provider sends the notification again later.
        log.warning("%s: could not fetch payment %s: %s", provider.name, provider_payment_id,
                    exc)
        raise PaymentProviderFailed("The provider could not confirm the payment's state.",
                                    {"gateway": provider.name}) from None


def reconcile(sessions, gateways, settings, now, limit=50):
    """Ask the providers about payments pending longer than reconcile_after (their webhook
    may be lost) and apply the answer through `settle`, as a webhook would.

    A pending payment that never got a provider id (its start failed or crashed) is failed
    quietly: its confirmation URL never reached the payer, so no one was told of it and no
    one can have paid it. One still pending past pending_lifetime is canceled and
    payment.failed (status canceled) is emitted: for the booking and the customer it means
    what a decline means. If the money arrives after all, `settle` turns it succeeded.
    Returns {payment_id: status after}.
    """
    with sessions() as session:
        due = [(row.id, row.provider, row.provider_payment_id)
               for row in store.pending_due_for_check(
                   session, now - settings.reconcile_after,
                   now - settings.reconcile_interval / 2, limit)]
    outcomes = {}
    for payment_id, provider_name, provider_payment_id in due:
        state = None
        if provider_payment_id is not None:
            try:
                state = gateways.adapter(provider_name).fetch(provider_payment_id)
            except (ProviderError, UnknownGateway) as exc:
                log.warning("reconcile: payment %s not fetched from %s: %s", payment_id,
                            provider_name, exc)
        with sessions() as session:
            row = store.load_payment(session, payment_id, for_update=True)
            row.checked_at = now
            in_flight = row.updated_at > now - timedelta(seconds=IN_FLIGHT_SECONDS)
            if row.status == PENDING and row.provider_payment_id is None and not in_flight:
                row.status, row.updated_at = FAILED, now
            elif row.status == PENDING and state is not None:
                settle(session, row, state, now)
            if (row.status == PENDING and row.provider_payment_id is not None
                    and row.created_at <= now - settings.pending_lifetime):
                row.status, row.updated_at = CANCELED, now
                _record(session, "payment.failed", row)
            outcomes[payment_id] = row.status
    return outcomes


def forget_idempotency_keys(sessions, settings, now):
    """A client repeats a request within minutes, not days: keys older than
    idempotency_key_lifetime are forgotten (a repeat after that is a new request)."""
    with sessions() as session:
        return store.delete_idempotency_keys_before(session, now - settings.idempotency_key_lifetime)


# --- refunds ---------------------------------------------------------------------------------

def refund(sessions, gateways, payment_id, now, amount=None, reason=None, request_id=None,
           batch_request_id=None):
    """Refund `amount` kopecks of a payment (default: all not yet refunded) through its
    provider. Idempotent by request_id: a repeat returns the same refund, and re-sends it
    (with the same provider key) while it is still pending."""
    data = load(RefundRequestSchema, {"amount": amount, "reason": reason})
    with sessions() as session:
        existing = store.refund_by_request(session, request_id) if request_id else None
        if existing is None:
            row = store.load_payment(session, payment_id, for_update=True)
            existing, retry = _reserve_refund(session, row, data["amount"], data["reason"],
                                              request_id, batch_request_id, now)
        else:
            retry = True
            if (existing.payment_id != store.uuid_or_none(payment_id)
                    or (data["amount"] is not None and data["amount"] != existing.amount)):
                raise IdempotencyKeyReused("This request id was used for another refund.",
                                           {"request_id": request_id})
        refund_id, status = existing.id, existing.status
        if status != "pending":
            return _refund_result(session, refund_id)
    return _send_refund(sessions, gateways, refund_id, now, retry)


def _reserve_refund(session, payment, amount, reason, request_id, batch_request_id, now):
    """A pending refund row that reserves its amount; (row, is it a repeat?)."""
    if payment.status not in ("succeeded", "partially_refunded"):
        raise PaymentNotRefundable(f"A {payment.status} payment cannot be refunded.",
                                   {"payment_id": payment.id, "status": payment.status})
    refundable = (payment.amount - payment.refunded_amount
                  - store.amount_being_refunded(session, payment.id))
    amount = refundable if amount is None else amount
    if refundable <= 0 or amount > refundable:
        raise RefundExceedsPayment(
            f"At most {max(refundable, 0)} kopecks of this payment can be refunded.",
            {"amount": amount, "refundable": max(refundable, 0)})
    refund_id = str(uuid.uuid4())
    row = RefundRow(id=refund_id, payment_id=payment.id, amount=amount, status="pending",
                    reason=reason, request_id=request_id or refund_id,
                    batch_request_id=batch_request_id, provider_state={}, created_at=now,
                    updated_at=now)
    if store.insert_refund(session, row):
        return row, False
    return store.refund_by_request(session, request_id), True


def _send_refund(sessions, gateways, refund_id, now, retry):
    with sessions() as session:
        refund_row = session.get(RefundRow, refund_id)
        payment = store.load_payment(session, refund_row.payment_id)
    provider = gateways.adapter(payment.provider)
    try:
        result = None
        if retry and not provider_refunds_are_idempotent(provider):
            result = _refund_seen_by_provider(provider, payment, refund_row)
        elif retry and refund_row.provider_refund_id:
            result = provider.fetch_refund(refund_row.provider_refund_id)
        if result is None:
            result = provider.refund(refund_row.id, payment.provider_payment_id,
                                     refund_row.amount, payment.currency)
    except ProviderError as exc:
        log.warning("refund %s of payment %s: %s", refund_id, payment.id, exc)
        raise PaymentProviderFailed(
            "The provider did not confirm the refund. It stays pending (its amount reserved); "
            "repeat the request with the same request id to send it again.",
            {"refund_id": refund_id, "request_id": refund_row.request_id}) from None
    with sessions() as session:
        payment = store.load_payment(session, payment.id, for_update=True)
        refund_row = session.get(RefundRow, refund_id, with_for_update=True)
        if refund_row.status == "pending":
            apply_refund_result(session, payment, refund_row, result, now)
        return _refund_result(session, refund_id)


def apply_refund_result(session, payment, refund_row, result, now):
    refund_row.provider_refund_id = result.provider_refund_id
    refund_row.provider_state = result.raw or {}
    refund_row.updated_at = now
    if result.status == REFUND_SUCCEEDED:
        refund_row.status = "succeeded"
        _count_refund(session, payment, refund_row, now)
    elif result.status == REFUND_FAILED:
        refund_row.status = "failed"  # the reservation is released
        log.error("refund %s of payment %s: the provider refused it", refund_row.id,
                  payment.id)
        _record(session, "payment.refund_failed", payment, refund_id=refund_row.id,
                refund_amount=refund_row.amount)
    # else the provider is still working on it: it stays pending, its amount reserved


def _count_refund(session, payment, refund_row, now):
    """A succeeded refund moves the payment's refunded total and status, announced."""
    payment.refunded_amount += refund_row.amount
    payment.status = REFUNDED if payment.refunded_amount >= payment.amount \
        else PARTIALLY_REFUNDED
    payment.updated_at = now
    _record(session, "payment.refunded", payment, refund_id=refund_row.id,
            refund_amount=refund_row.amount)


def reconcile_refunds(sessions, gateways, settings, now, limit=50):
    """Refunds still pending reconcile_after since their last word from the provider (the
    provider was slow, or did not answer): ask again, by the refund's own id where the
    provider has one, else by sending it again under the same key. Returns
    {refund_id: status after}."""
    with sessions() as session:
        due = store.pending_refunds_due(session, now - settings.reconcile_after, limit)
    outcomes = {}
    for refund_id in due:
        try:
            outcomes[refund_id] = _send_refund(sessions, gateways, refund_id, now,
                                               retry=True)["refund"]["status"]
        except (PaymentProviderFailed, UnknownGateway) as exc:
            log.warning("reconcile: refund %s not settled: %s", refund_id, exc)
            outcomes[refund_id] = "pending"
            with sessions() as session:  # not again before the next reconcile_after
                session.get(RefundRow, refund_id, with_for_update=True).updated_at = now
    return outcomes


def provider_refunds_are_idempotent(provider):
    # Sber's refund.do takes no idempotency key; the others take our refund id as theirs.
    return provider.name != "sberpay"


def _refund_seen_by_provider(provider, payment, refund_row):
    """For a provider without refund idempotency: did an earlier send of this refund get
    through? Sber's order shows the refunded total; if it covers what we recorded plus this
    refund, the refund is done and is not sent again."""
    state = provider.fetch(payment.provider_payment_id)
    info = (state.raw or {}).get("paymentAmountInfo") or {}
    refunded_there = int(info.get("refundedAmount") or 0)
    if refunded_there >= payment.refunded_amount + refund_row.amount:
        return ProviderRefund(provider_refund_id=None, status=REFUND_SUCCEEDED,
                              amount=refund_row.amount, raw=state.raw)
    return None


def _refund_result(session, refund_id):
    refund_row = session.get(RefundRow, refund_id)
    payment = store.load_payment(session, refund_row.payment_id)
    return {"refund": refund_view(refund_row),
            "payment": payment_view(payment, store.refunds_of(session, payment.id))}


def refund_booking(sessions, gateways, booking_id, amount, reason, request_id, now):
    """Refund `amount` kopecks of a booking across its succeeded payments, newest first,
    until it is covered. Idempotent by request_id: a repeat sends nothing new for money
    already refunded, and re-sends parts still pending. Raises PaymentProviderFailed (retry
    later) while a part could not be confirmed; reports `not_covered` when the booking's
    online payments cannot cover the amount (desk money, or an operator's matter)."""
    data = load(RefundBookingSchema, {"booking_id": booking_id, "amount": amount,
                                      "reason": reason, "request_id": request_id})
    booking_id, request_id = str(data["booking_id"]), data["request_id"]
    unconfirmed = []
    for part in _batch_refunds(sessions, request_id):
        if part.status == "pending":
            try:
                refund(sessions, gateways, part.payment_id, now, request_id=part.request_id)
            except PaymentProviderFailed:
                unconfirmed.append(part.id)
    with sessions() as session:
        payment_ids = [row.id for row in store.refundable_payments(session, booking_id)]
    for payment_id in payment_ids:
        parts = _batch_refunds(sessions, request_id)
        remaining = data["amount"] - sum(p.amount for p in parts if p.status != "failed")
        if remaining <= 0:
            break
        if any(p.payment_id == payment_id for p in parts):
            continue  # this payment's part was decided by an earlier call
        with sessions() as session:
            row = store.load_payment(session, payment_id)
            refundable = (row.amount - row.refunded_amount
                          - store.amount_being_refunded(session, payment_id))
        if refundable <= 0:
            continue
        try:
            refund(sessions, gateways, payment_id, now, amount=min(remaining, refundable),
                   reason=data["reason"], request_id=f"{request_id}:{payment_id}",
                   batch_request_id=request_id)
        except (RefundExceedsPayment, PaymentNotRefundable):
            continue  # changed under us; the next payment takes the rest
        except PaymentProviderFailed:
            unconfirmed.append(payment_id)
    parts = _batch_refunds(sessions, request_id)
    refunded = sum(p.amount for p in parts if p.status != "failed")
    if unconfirmed:
        raise PaymentProviderFailed("Some refunds of the booking are not confirmed by the "
                                    "provider yet; repeat with the same request_id.",
                                    {"booking_id": booking_id, "request_id": request_id})
    result = {"booking_id": booking_id, "request_id": request_id, "amount": data["amount"],
              "refunded": refunded, "not_covered": max(data["amount"] - refunded, 0),
              "refunds": [refund_view(p) for p in parts]}
    if result["not_covered"]:
        log.warning("booking %s: %d kopecks of refund %s are not covered by its payments",
                    booking_id, result["not_covered"], request_id)
    return result


def _batch_refunds(sessions, request_id):
    with sessions() as session:
        return store.batch_refunds(session, request_id)


# --- the mock provider's checkout (PAYMENT_ENV=mock) -----------------------------------------

def _mock_payment(session, gateways, payment_id, for_update=False):
    gateways.adapter(MOCK)  # UnknownGateway outside mock mode
    row = store.load_payment(session, payment_id, for_update=for_update)
    if row.provider != MOCK:
        raise PaymentNotFound(f"There is no mock checkout for payment {payment_id}.",
                              {"payment_id": payment_id})
    return row


def mock_checkout_page(sessions, gateways, payment_id):
    """What the mock checkout page shows."""
    with sessions() as session:
        row = _mock_payment(session, gateways, payment_id)
        checkout = store.mock_checkout(session, row.id)
        return {"payment_id": row.id, "description": row.description, "amount": row.amount,
                "currency": row.currency, "status": row.status, "return_url": row.return_url,
                "outcome": checkout.outcome if checkout else None}


def mock_checkout(sessions, gateways, settings, payment_id, card_number, now):
    """The payer submits a test card: the outcome is recorded as the mock provider's own
    state and its signed webhook queued for delivery. Repeating returns the first outcome.
    Returns {payment_id, outcome, return_url}."""
    with sessions() as session:
        row = _mock_payment(session, gateways, payment_id, for_update=True)
        checkout = store.mock_checkout(session, row.id)
        if checkout is not None:
            return {"payment_id": row.id, "outcome": checkout.outcome,
                    "return_url": row.return_url}
        if row.status != PENDING:
            raise CheckoutClosed(f"This payment is {row.status}.",
                                 {"payment_id": row.id, "status": row.status})
        try:
            outcome = card_outcome(card_number or "")
        except ValueError as exc:
            raise InvalidCardNumber("This is not one of the test cards.",
                                    {"card_number": [str(exc)]}) from None
        body, _ = build_notification(row.id, outcome, row.amount, row.currency,
                                     settings.mock_webhook_secret)
        session.add(MockCheckoutRow(payment_id=row.id, outcome=outcome, amount=row.amount,
                                    currency=row.currency, notification=body.decode(),
                                    attempts=0, next_attempt_at=now, created_at=now))
        return {"payment_id": row.id, "outcome": outcome, "return_url": row.return_url}


def mock_state(session, payment_id):
    """The mock provider's answer to a fetch: the outcome recorded at its checkout."""
    row = store.find_payment(session, payment_id)
    if row is None:
        return None
    checkout = store.mock_checkout(session, row.id)
    if checkout is None:
        return {"status": PENDING, "amount": row.amount, "currency": row.currency}
    return {"status": checkout.outcome, "amount": checkout.amount,
            "currency": checkout.currency}


def deliver_mock_webhooks(sessions, settings, post, now, payment_id=None, limit=20):
    """Deliver due mock webhooks over HTTP, signed at sending time; failures are retried with
    backoff and given up after MOCK_DELIVERY_MAX_ATTEMPTS (reconciliation settles those from
    the recorded outcome). `post(url, body, headers)` returns the HTTP status."""
    with sessions() as session:
        jobs = [(row.payment_id, row.notification.encode(), row.attempts)
                for row in store.claim_mock_deliveries(
                    session, now, MOCK_DELIVERY_LEASE_SECONDS, limit, payment_id)]
    for job_payment_id, body, attempts in jobs:
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(settings.mock_webhook_secret, body, now.timestamp())}
        try:
            status = post(settings.mock_webhook_url, body, headers)
            error = None if status == 200 else f"HTTP {status}"
        except Exception as exc:  # the endpoint is away: try again later
            error = type(exc).__name__
        with sessions() as session:
            row = session.get(MockCheckoutRow, job_payment_id, with_for_update=True)
            row.last_error = error
            if error is None:
                row.delivered_at, row.next_attempt_at = now, None
            elif attempts >= MOCK_DELIVERY_MAX_ATTEMPTS:
                log.warning("mock webhook of payment %s given up: %s", job_payment_id, error)
                row.next_attempt_at = None
            else:
                row.next_attempt_at = now + timedelta(seconds=min(60, 2 ** attempts))
    return len(jobs)
