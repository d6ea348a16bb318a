"""Queries of the payments service: rows in and out."""
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from contracts.errors.payments import PaymentNotFound
from services.common.db import row_by_id
from services.common.input import uuid_or_none
from services.payments.domain import PENDING, REFUND_PENDING, REFUNDABLE, SETTLED
from services.payments.models import IdempotencyKeyRow, MockCheckoutRow, PaymentRow, ProviderNotificationRow, RefundRow

UNIQUE_VIOLATION = "23505"


# --- payments ----------------------------------------------------------------------------------

def load_payment(session, payment_id, for_update=False):
    row = row_by_id(session, PaymentRow, payment_id, for_update)
    if row is None:
        raise _no_payment(payment_id)
    return row


def _no_payment(payment_id):
    return PaymentNotFound(f"There is no payment {payment_id}.", {"payment_id": payment_id})


def find_payment(session, payment_id):
    return row_by_id(session, PaymentRow, payment_id)


def pending_payment(session, booking_id, kind):
    return session.scalars(select(PaymentRow).where(
        PaymentRow.booking_id == booking_id, PaymentRow.kind == kind,
        PaymentRow.status == PENDING)).first()


def _insert_unless_taken(session, row):
    """Add the row; False, and nothing added, when a unique index already holds its key (a
    concurrent twin won: the caller loads and returns that one)."""
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "pgcode", None) == UNIQUE_VIOLATION:
            session.expunge(row)
            return False
        raise
    return True


def insert_payment(session, fields):
    """Add a pending payment: its row, or None when the booking has a pending one of this
    kind already (the partial unique index decides between concurrent requests, without a
    savepoint: the conflict is skipped, not raised)."""
    return session.scalars(
        insert(PaymentRow).values(**fields)
        .on_conflict_do_nothing(index_elements=[PaymentRow.booking_id, PaymentRow.kind],
                                index_where=PaymentRow.status == PENDING)
        .returning(PaymentRow)).first()


def record_provider_start(session, payment_id, provider_payment_id, confirmation_url, state):
    """The provider's answer to starting the payment, unless one is recorded already (a
    concurrent repeat's): the row after, in one statement."""
    started = session.scalars(
        update(PaymentRow)
        .where(PaymentRow.id == payment_id, PaymentRow.provider_payment_id.is_(None))
        .values(provider_payment_id=provider_payment_id, confirmation_url=confirmation_url,
                provider_state=state)
        .returning(PaymentRow).execution_options(synchronize_session=False)).first()
    return started or load_payment(session, payment_id)


def money_taken_for_booking(session, booking_id):
    """Kopecks our settled payments of the booking hold (paid minus refunded)."""
    return session.scalar(select(func.coalesce(
        func.sum(PaymentRow.amount - PaymentRow.refunded_amount), 0)).where(
        PaymentRow.booking_id == booking_id, PaymentRow.status.in_(SETTLED))) or 0


def refundable_payments(session, booking_id):
    """The booking's payments that hold money, newest first, locked for the refund."""
    return session.scalars(
        select(PaymentRow).where(PaymentRow.booking_id == booking_id,
                                 PaymentRow.status.in_(REFUNDABLE))
        .order_by(PaymentRow.created_at.desc(), PaymentRow.id)).all()


def list_payments(session, booking_id=None, status=None, limit=50):
    query = select(PaymentRow).order_by(PaymentRow.created_at.desc(), PaymentRow.id)
    if booking_id is not None:
        query = query.where(PaymentRow.booking_id == str(booking_id))
    if status is not None:
        query = query.where(PaymentRow.status == status)
    return session.scalars(query.limit(limit)).all()


def payment_for_notification(session, provider_name, notification, for_update=False):
    """Our payment a verified notification speaks of: by our id when it carries it, else by
    the provider's id; locked with for_update."""
    row = (row_by_id(session, PaymentRow, notification.payment_id, for_update)
           if notification.payment_id else None)
    if row is None and notification.provider_payment_id:
        query = select(PaymentRow).where(
            PaymentRow.provider == provider_name,
            PaymentRow.provider_payment_id == str(notification.provider_payment_id))
        row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is not None and row.provider != provider_name:
        return None
    return row


def pending_due_for_check(session, created_before, checked_before, limit):
    """Pending payments old enough to ask the provider about, least recently asked first."""
    return session.scalars(
        select(PaymentRow).where(
            PaymentRow.status == PENDING, PaymentRow.created_at <= created_before,
            (PaymentRow.checked_at.is_(None)) | (PaymentRow.checked_at <= checked_before))
        .order_by(PaymentRow.checked_at.asc().nullsfirst(), PaymentRow.created_at)
        .limit(limit)).all()


# --- the webhook inbox ---------------------------------------------------------------------------

def notification_seen(session, gateway, dedupe_key):
    return session.scalar(select(ProviderNotificationRow.id).where(
        ProviderNotificationRow.gateway == gateway,
        ProviderNotificationRow.dedupe_key == dedupe_key)) is not None


# Built and compiled once: every webhook records its notification.
_RECORD_NOTIFICATION = (insert(ProviderNotificationRow.__table__)
                        .on_conflict_do_nothing(constraint="provider_notifications_once")
                        .returning(ProviderNotificationRow.__table__.c.id))


def record_notification(session, gateway, dedupe_key, payment_id, payload):
    """True the first time this notification is recorded, False for a repeat."""
    inserted = session.execute(_RECORD_NOTIFICATION, {
        "gateway": gateway, "dedupe_key": dedupe_key, "payment_id": payment_id,
        "payload": payload}).scalar()
    return inserted is not None


# --- idempotency keys ----------------------------------------------------------------------------

def claim_idempotency_key(session, key, request_hash, payment_id):
    """The key's row, locked; created (for `payment_id`, with no answer yet) if it is new.
    One statement: a key that is there already is locked by the conflict's update (of
    nothing) and returned as it was."""
    statement = insert(IdempotencyKeyRow).values(key=key, request_hash=request_hash,
                                                 payment_id=payment_id)
    return session.scalars(
        statement.on_conflict_do_update(index_elements=[IdempotencyKeyRow.key],
                                        set_={"key": statement.excluded.key})
        .returning(IdempotencyKeyRow),
        execution_options={"populate_existing": True}).one()


def keep_first_answer(session, key, answer):
    """The answer a repeat of this key gets, unless it has one already."""
    session.execute(update(IdempotencyKeyRow)
                    .where(IdempotencyKeyRow.key == key, IdempotencyKeyRow.response.is_(None))
                    .values(response=answer).execution_options(synchronize_session=False))


def delete_idempotency_keys_before(session, before):
    return session.execute(delete(IdempotencyKeyRow)
                           .where(IdempotencyKeyRow.created_at < before)).rowcount


# --- refunds -------------------------------------------------------------------------------------

def refund_by_request(session, request_id):
    return session.scalars(select(RefundRow).where(RefundRow.request_id == request_id)).first()


def batch_refunds(session, batch_request_id):
    """The parts of one refund_booking, in the order they are spent: newest payment first."""
    return session.scalars(
        select(RefundRow).join(PaymentRow, PaymentRow.id == RefundRow.payment_id)
        .where(RefundRow.batch_request_id == batch_request_id)
        .order_by(PaymentRow.created_at.desc(), RefundRow.created_at, RefundRow.id)).all()


def refunds_of(session, payment_id):
    return session.scalars(select(RefundRow).where(RefundRow.payment_id == payment_id)
                           .order_by(RefundRow.created_at, RefundRow.id)).all()


def pending_refunds_due(session, not_updated_since, limit):
    """Ids of refunds pending with no word from their provider since `not_updated_since`."""
    return session.scalars(
        select(RefundRow.id).where(RefundRow.status == REFUND_PENDING,
                                   RefundRow.updated_at <= not_updated_since)
        .order_by(RefundRow.updated_at).limit(limit)).all()


def amount_being_refunded(session, payment_id):
    """Kopecks of refunds sent (or about to be) whose outcome is not known yet: reserved."""
    return session.scalar(select(func.coalesce(func.sum(RefundRow.amount), 0)).where(
        RefundRow.payment_id == payment_id, RefundRow.status == REFUND_PENDING)) or 0


def insert_refund(session, row):
    """Add a refund; False when its request_id is taken (a concurrent repeat)."""
    return _insert_unless_taken(session, row)


# --- the mock provider's side --------------------------------------------------------------------

def payment_and_mock_checkout(session, payment_id, for_update=False):
    """(the payment, its mock checkout or None) in one statement, the payment locked with
    for_update; PaymentNotFound when there is no such payment."""
    key = uuid_or_none(payment_id)
    query = (select(PaymentRow, MockCheckoutRow)
             .outerjoin(MockCheckoutRow, MockCheckoutRow.payment_id == PaymentRow.id)
             .where(PaymentRow.id == key))
    found = None if key is None else session.execute(
        query.with_for_update(of=PaymentRow) if for_update else query).first()
    if found is None:
        raise _no_payment(payment_id)
    return tuple(found)


def settle_mock_delivery(session, payment_id, changes):
    """Store how a mock webhook's try went, in one statement."""
    session.execute(update(MockCheckoutRow).where(MockCheckoutRow.payment_id == payment_id)
                    .values(**changes).execution_options(synchronize_session=False))


def claim_mock_deliveries(session, now, lease_seconds, limit):
    """Due webhook deliveries, leased to the caller: nobody else takes them for a while."""
    due = (select(MockCheckoutRow.payment_id)
           .where(MockCheckoutRow.next_attempt_at <= now)
           .order_by(MockCheckoutRow.next_attempt_at).limit(limit)
           .with_for_update(skip_locked=True))
    return session.scalars(
        update(MockCheckoutRow)
        .where(MockCheckoutRow.payment_id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + timedelta(seconds=lease_seconds),
                attempts=MockCheckoutRow.attempts + 1)
        .returning(MockCheckoutRow)
        .execution_options(synchronize_session=False)).all()
