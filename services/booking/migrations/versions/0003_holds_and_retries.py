"""idempotency keys of creating calls; the client address of a hold; indexes to count a
customer's unpaid holds

Revision ID: 0003_holds_and_retries
Revises: 0003_calendar
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_holds_and_retries"
down_revision = "0003_calendar"
branch_labels = None
depends_on = None

HOLDS = "status = 'pending_payment'"


def upgrade():
    op.create_table(
        "idempotency_keys",
        sa.Column("operation", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),  # sha256 of the client's key
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("result", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        # random per key; with the key it derives the answer's access token again
        sa.Column("token_salt", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idempotency_keys_expiry", "idempotency_keys", ["expires_at"])
    op.add_column("bookings", sa.Column("client_ip", sa.Text))
    op.create_index("bookings_holds_by_phone", "bookings",
                    [sa.text("regexp_replace(customer->>'phone', '[^0-9]', '', 'g')")],
                    postgresql_where=sa.text(HOLDS))
    op.create_index("bookings_holds_by_email", "bookings",
                    [sa.text("lower(customer->>'email')")], postgresql_where=sa.text(HOLDS))
    op.create_index("bookings_holds_by_ip", "bookings", ["client_ip"],
                    postgresql_where=sa.text(HOLDS))
    op.create_index("bookings_finished", "bookings", ["end_at"],
                    postgresql_where=sa.text("status = 'confirmed'"))


def downgrade():
    op.drop_index("bookings_finished", "bookings")
    op.drop_index("bookings_holds_by_ip", "bookings")
    op.drop_index("bookings_holds_by_email", "bookings")
    op.drop_index("bookings_holds_by_phone", "bookings")
    op.drop_column("bookings", "client_ip")
    op.drop_table("idempotency_keys")
