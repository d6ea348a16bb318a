"""bookings.reschedules: how many times a booking was moved (a customer's moves are limited)

Revision ID: 0004_reschedules
Revises: 0003_holds_and_retries
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_reschedules"
down_revision = "0003_holds_and_retries"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("bookings", sa.Column("reschedules", sa.Integer, nullable=False,
                                        server_default="0"))


def downgrade():
    op.drop_column("bookings", "reschedules")
