"""halls, bookings with the no-double-booking exclusion constraint, outbox and inbox

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID

from services.common.tables import create_reliability_tables, drop_reliability_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "halls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("buffer_minutes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("opening_hours", JSONB),
        sa.Column("tariff", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "bookings",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("hall_id", sa.Integer, sa.ForeignKey("halls.id"), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("busy", TSTZRANGE, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("price_total", sa.BigInteger, nullable=False),
        sa.Column("prepayment_amount", sa.BigInteger, nullable=False),
        sa.Column("amount_paid", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True)),
        sa.Column("payment_ids", JSONB, nullable=False, server_default="[]"),
        sa.Column("customer", JSONB, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("access_token_hash", sa.Text, nullable=False),
        sa.Column("refund_due", sa.BigInteger),
        sa.Column("cancelled_by", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("end_at > start_at", name="booking_ends_after_start"),
        sa.CheckConstraint("amount_paid >= 0 AND price_total >= 0", name="booking_money"),
    )
    # The last guard against double booking, whatever the application checked first.
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap "
        "EXCLUDE USING gist (hall_id WITH =, busy WITH &&) "
        "WHERE (status IN ('pending_payment', 'confirmed'))")
    op.create_index("bookings_hall_start", "bookings", ["hall_id", "start_at"])
    op.create_index("bookings_start", "bookings", ["start_at", "id"])
    op.create_index("bookings_holds", "bookings", ["hold_expires_at"],
                    postgresql_where=sa.text("status = 'pending_payment'"))
    create_reliability_tables(op.get_bind())


def downgrade():
    drop_reliability_tables(op.get_bind())
    op.drop_table("bookings")
    op.drop_table("halls")
