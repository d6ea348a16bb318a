"""bookings.overpaid: what each payment brought beyond the price, to be refunded

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("bookings", sa.Column("overpaid", JSONB, nullable=False,
                                        server_default=sa.text("'{}'::jsonb")))


def downgrade():
    op.drop_column("bookings", "overpaid")
