"""What the provider says: verified webhooks, and reconciliation (asking the provider about
payments whose webhook never came). Both apply the provider's word through `apply_settlement`,
so a payment moves by one rule (`domain.settle`) whichever way the word arrived."""
import base64
import binascii
import logging
from datetime import timedelta

from contracts.errors.base import InvalidRequest
from contracts.errors.payments import PaymentProviderFailed, UnknownGateway, WebhookForged
from services.payments import domain, refunds, store, views
from services.payments.creating import IN_FLIGHT_SECONDS
from services.payments.providers import NotificationForged, ProviderError

log = logging.getLogger(__name__)


def apply_settlement(session, row, state, now):
    """Record the provider's word on a payment row (a verified notification, or the payment
    as fetched), move it as `domain.settle` says and record the event that follows."""
    if state.raw:
        row.provider_state = state.raw
    if row.provider_payment_id is None and state.provider_payment_id:
        row.provider_payment_id = str(state.provider_payment_id)
    # only a provider that counts refunds can show one made in its dashboard
    counts_refunds = getattr(state, "refunded_amount", None) is not None
    outcome = domain.settle(row, state, now, store.amount_being_refunded(session, row.id)
                            if counts_refunds and row.status in domain.REFUNDABLE else 0)
    if outcome.warning:
        log.log(logging.ERROR if outcome.status == domain.AMOUNT_MISMATCH else logging.WARNING,
                "payment %s: %s", row.id, outcome.warning)
    row.status, row.updated_at = outcome.status, outcome.updated_at
    if outcome.event:
        views.record(session, outcome.event, row, **outcome.event_details)
    if outcome.refunded_at_provider:
        refunds.record_refund_made_at_provider(session, row, outcome.refunded_at_provider,
                                               state.raw, now)


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
    # Where the provider's word is only a hint, the payment is fetched back, outside any
    # transaction; otherwise the notification is acted on in one.
    must_fetch = (provider.must_fetch_after_notification or notification.amount is None
                  or notification.currency is None)

    with sessions() as session:
        if must_fetch and store.notification_seen(session, gateway_name,
                                                  notification.dedupe_key):
            return reply
        # acted on in this transaction: locked as it is read
        row = store.payment_for_notification(session, gateway_name, notification,
                                             for_update=not must_fetch)
        ours = row is not None and (
            row.provider_payment_id is None or notification.provider_payment_id is None
            or str(notification.provider_payment_id) == row.provider_payment_id)
        if not ours:
            # Not a payment of ours: recorded and acknowledged, so it is not sent for a day.
            if store.record_notification(session, gateway_name, notification.dedupe_key, None,
                                         notification.raw):
                log.warning("%s notification %s is for no payment of ours", gateway_name,
                            notification.dedupe_key)
            return reply
        if not must_fetch:
            if store.record_notification(session, gateway_name, notification.dedupe_key,
                                         row.id, notification.raw):  # else a repeat
                apply_settlement(session, row, notification, now)
            return reply
        payment_id, provider_payment_id = row.id, row.provider_payment_id

    state = fetch_state(provider, str(notification.provider_payment_id or provider_payment_id))
    # A claim the provider's own answer does not (yet) bear out is acted on as fetched but
    # not recorded as seen, so the genuine notification that follows is not skipped as its
    # repeat. (`settle` itself moves a payment at most once, whatever arrives twice.)
    confirmed = notification.status is None or state.status == notification.status

    with sessions() as session:
        if confirmed and not store.record_notification(
                session, gateway_name, notification.dedupe_key, payment_id, notification.raw):
            return reply  # a concurrent delivery of the same notification got here first
        apply_settlement(session, store.load_payment(session, payment_id, for_update=True),
                         state, now)
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
    may be lost) and apply the answer as a webhook would.

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
            if row.status == domain.PENDING and row.provider_payment_id is None \
                    and not in_flight:
                row.status, row.updated_at = domain.FAILED, now
            elif row.status == domain.PENDING and state is not None:
                apply_settlement(session, row, state, now)
            if (row.status == domain.PENDING and row.provider_payment_id is not None
                    and row.created_at <= now - settings.pending_lifetime):
                row.status, row.updated_at = domain.CANCELED, now
                views.record(session, domain.FAILED_EVENT, row)
            outcomes[payment_id] = row.status
    return outcomes
