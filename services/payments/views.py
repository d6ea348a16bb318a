"""What callers read of payments and refunds, and the payload every payment.* event carries."""
from contracts.payments import PaymentListQuerySchema
from services.common.clock import iso
from services.common.input import load
from services.common.outbox import record_event
from services.payments import store

SOURCE = "payments"


def refund_view(row):
    return {"id": row.id, "payment_id": row.payment_id, "amount": row.amount,
            "status": row.status, "reason": row.reason, "request_id": row.request_id,
            "created_at": iso(row.created_at)}


def created_view(row):
    """The answer to create_payment (and what an Idempotency-Key repeat gets back)."""
    return {"id": row.id, "booking_id": row.booking_id, "kind": row.kind, "amount": row.amount,
            "currency": row.currency, "gateway": row.gateway, "status": row.status,
            "confirmation_url": row.confirmation_url}


def payment_view(row, refunds=()):
    return {**created_view(row), "refunded_amount": row.refunded_amount,
            "provider_payment_id": row.provider_payment_id,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            "refunds": [refund_view(r) for r in refunds]}


def event_payload(row, **extra):
    """The public payload of every payment.* event (contracts.payments:
    PaymentEventPayloadSchema)."""
    return {"payment_id": row.id, "booking_id": row.booking_id, "kind": row.kind,
            "amount": row.amount, "currency": row.currency, "gateway": row.gateway,
            "status": row.status, "refunded_amount": row.refunded_amount, **extra}


def record(session, event_type, row, **extra):
    """Announce a payment's change in the transaction that makes it (the outbox)."""
    record_event(session, SOURCE, event_type, event_payload(row, **extra))


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
