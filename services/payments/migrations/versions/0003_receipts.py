"""payments.receipt: the fiscal receipt a payment was sent with (its refunds repeat it)

Revision ID: 0003_receipts
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_receipts"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("payments", sa.Column("receipt", JSONB))


def downgrade():
    op.drop_column("payments", "receipt")
