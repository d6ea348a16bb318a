"""inbox: the booking message handlers became one batched `record_booking_messages`

Revision ID: 0004_handler_names
Revises: 0003_calendar

Failed and dead rows under the old names are renamed so that a retry finds a handler.
`remember_payment_recorded` only kept a copy of the booking, which notifications no longer
keeps: its failed and dead rows are closed. Upgrade with the old consumers' queues drained
(see docs/DEVELOPING.md, "Renaming a handler").
"""
from alembic import op

from services.common.inbox_upgrades import rename_inbox_handlers, rename_inbox_handlers_by_type, retire_inbox_handler

revision = "0004_handler_names"
down_revision = "0003_calendar"
branch_labels = None
depends_on = None

OLD_NAMES_BY_TYPE = {
    "booking.created": "remember_booking", "booking.confirmed": "booking_confirmed",
    "booking.cancelled": "booking_cancelled", "booking.expired": "booking_expired",
}


def upgrade():
    bind = op.get_bind()
    rename_inbox_handlers(bind, {old: "record_booking_messages"
                                 for old in OLD_NAMES_BY_TYPE.values()})
    retire_inbox_handler(bind, "remember_payment_recorded",
                         "retired in 0004: notifications keeps no copy of the booking")


def downgrade():
    rename_inbox_handlers_by_type(op.get_bind(), "record_booking_messages", OLD_NAMES_BY_TYPE)
