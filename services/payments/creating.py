"""Starting a payment: the amount from the booking, the row before the provider call, the
provider's answer after it, and the Idempotency-Key that makes a repeat get the first answer.

A use case that talks to a provider does it between two transactions, never inside one: no
row lock and no connection is held while a provider thinks. What a use case works with is
handed in, so tests drive it against a plain database and the fake providers:

  sessions()      a new unit of work: a context manager yielding a session that commits on
                  exit and rolls back on error (ServiceDatabase.get_session in the service)
  gateways        `config.Gateways`: the provider adapter serving each gateway
  booking_lookup  (booking_id, access_token) -> the booking's view; raises AccessDenied or
                  BookingNotFound (the booking service's get_booking, by RPC)
  now             the time (aware)
"""
import hashlib
import json
import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from contracts.errors.base import InvalidRequest
from contracts.errors.payments import (
    BookingNotPayable,
    IdempotencyKeyReused,
    PaymentInProgress,
    PaymentProviderFailed,
)
from contracts.payments import CreatePaymentSchema
from services.common.input import load
from services.payments import domain, receipts, store, views
from services.payments.providers import ProviderError

log = logging.getLogger(__name__)

# A payment whose provider call started less than this ago is taken to be in flight (every
# adapter gives up on a provider well within it): a repeat waits instead of sending again.
IN_FLIGHT_SECONDS = 60


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
    new_payment_id = str(uuid.uuid4())  # the id of the payment, if this request makes one

    with sessions() as session:
        key_row = None
        if key is not None:
            # a new key names that payment from the start (one statement fewer than after)
            key_row = store.claim_idempotency_key(session, key, request_hash, new_payment_id)
            if key_row.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used with a different request.",
                    {"Idempotency-Key": key})
            if key_row.response is not None:
                return key_row.response
        payment, started_here = _payment_to_start(
            session, key_row, new_payment_id, booking, kind, gateway, provider_name, return_url,
            now, settings.receipts)
        if key_row is not None:
            # a repeat finds the payment here, without trying to insert one (which would wait
            # on this payment's second transaction while holding the key); no UPDATE when it
            # is the one the key was claimed with
            key_row.payment_id = payment.id
        if payment.provider_payment_id is not None:
            answer = views.created_view(payment)
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


def _payment_to_start(session, key_row, new_payment_id, booking, kind, gateway, provider_name,
                      return_url, now, receipt_settings):
    """(payment row, created by this call?): the key's pending payment, the booking's pending
    payment of this kind, or a new pending one. The new one is tried first: the booking's
    pending payment of this kind is looked for only when the insert finds one (the common
    case, a first request, takes no look)."""
    if key_row is not None and key_row.payment_id not in (None, new_payment_id):
        earlier = store.find_payment(session, key_row.payment_id)
        if earlier is not None and earlier.status == domain.PENDING:
            return earlier, False
    try:
        amount = domain.amount_due(booking, kind,
                                  store.money_taken_for_booking(session, booking["id"]))
    except BookingNotPayable:
        # a payment started before the booking stopped taking one is still the answer
        existing = store.pending_payment(session, booking["id"], kind)
        if existing is None:
            raise
        return existing, False
    description = domain.description(booking, kind)
    row = store.insert_payment(session, dict(
        id=new_payment_id, booking_id=booking["id"], kind=kind, amount=amount,
        currency=booking["currency"], gateway=gateway, provider=provider_name,
        status=domain.PENDING, return_url=return_url, description=description,
        receipt=receipts.payment_receipt(receipt_settings, booking.get("customer"), kind,
                                         amount, description),
        refunded_amount=0, provider_state={}, created_at=now, updated_at=now))
    if row is not None:
        return row, True
    # The booking has a pending payment of this kind: an earlier request's, or a concurrent
    # one's that got there first.
    existing = store.pending_payment(session, booking["id"], kind)
    if existing is None:
        raise PaymentInProgress("Another payment of this booking was being made; ask again.",
                                {"booking_id": booking["id"]})
    return existing, False


def _start_at_provider(sessions, gateways, settings, payment, key):
    provider = gateways.adapter(payment.provider)
    try:
        started = provider.create_payment(
            payment.id, payment.amount, payment.currency, payment.description,
            payment.return_url or settings.default_return_url,
            {"booking_id": payment.booking_id, "kind": payment.kind}, receipt=payment.receipt)
    except ProviderError as exc:
        log.warning("payment %s: %s could not start it: %s", payment.id, payment.provider, exc)
        with sessions() as session:
            row = store.load_payment(session, payment.id, for_update=True)
            if row.status == domain.PENDING and row.provider_payment_id is None:
                row.status = domain.FAILED
                row.provider_state = {"error": str(exc)}
        raise PaymentProviderFailed("The payment provider could not start the payment; "
                                    "nothing was charged. Try again.",
                                    {"gateway": payment.gateway})
    with sessions() as session:
        row = store.record_provider_start(session, payment.id, str(started.provider_payment_id),
                                          started.confirmation_url, started.raw or {})
        answer = views.created_view(row)
        if key is not None:
            store.keep_first_answer(session, key, answer)
    return answer

def forget_idempotency_keys(sessions, settings, now):
    """A client repeats a request within minutes, not days: keys older than
    idempotency_key_lifetime are forgotten (a repeat after that is a new request)."""
    with sessions() as session:
        return store.delete_idempotency_keys_before(session, now - settings.idempotency_key_lifetime)
