"""inbox: the per-type log handlers became one batched `log_events`

Revision ID: 0004_handler_names
Revises: 0003_operators

Failed and dead rows recorded under the old names (`booking_created`, ...) are renamed so that
the retry timer and `retry_dead_event` find a handler to run. Upgrade with the old consumers'
queues drained (see docs/DEVELOPING.md, "Renaming a handler").
"""
from alembic import op

from services.common.inbox_upgrades import rename_inbox_handlers, rename_inbox_handlers_by_type

revision = "0004_handler_names"
down_revision = "0003_operators"
branch_labels = None
depends_on = None

OLD_NAMES_BY_TYPE = {
    "booking.created": "booking_created", "booking.confirmed": "booking_confirmed",
    "booking.payment_recorded": "booking_payment_recorded",
    "booking.expired": "booking_expired", "booking.completed": "booking_completed",
    "payment.failed": "payment_failed", "payment.refunded": "payment_refunded",
    "payment.amount_mismatch": "payment_amount_mismatch",
    "payment.refund_failed": "payment_refund_failed",
    "notification.sent": "notification_sent", "notification.failed": "notification_failed",
}


def upgrade():
    rename_inbox_handlers(op.get_bind(), {old: "log_events" for old in OLD_NAMES_BY_TYPE.values()})


def downgrade():
    rename_inbox_handlers_by_type(op.get_bind(), "log_events", OLD_NAMES_BY_TYPE)
