"""desk_payments: money taken at the studio's desk, for the takings report

Revision ID: 0006_desk_payments
Revises: 0005_closures

Until now a desk payment was only an id in bookings.payment_ids, its amount folded into
amount_paid. Where that id is a booking's only payment, amount_paid is its amount and the
booking's last change its time; those are carried over. A desk payment beside others is left
out: its own amount was never kept.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006_desk_payments"
down_revision = "0005_closures"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "desk_payments",
        sa.Column("payment_id", sa.Text, primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), sa.ForeignKey("bookings.id"),
                  nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="desk_payment_amount"),
    )
    op.create_index("desk_payments_taken_at", "desk_payments", ["taken_at"])
    op.execute("""
        INSERT INTO desk_payments (payment_id, booking_id, amount, taken_at)
        SELECT payment_ids ->> 0, id, amount_paid, updated_at FROM bookings
        WHERE jsonb_array_length(payment_ids) = 1 AND payment_ids ->> 0 LIKE 'desk:%'
          AND amount_paid > 0""")


def downgrade():
    op.drop_table("desk_payments")
