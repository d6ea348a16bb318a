"""bookings.revision (a calendar event's SEQUENCE) and halls.feed_token_hash (the hall's feed)

Revision ID: 0003_calendar
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_calendar"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("bookings", sa.Column("revision", sa.Integer, nullable=False,
                                        server_default="0"))
    op.add_column("halls", sa.Column("feed_token_hash", sa.Text))


def downgrade():
    op.drop_column("halls", "feed_token_hash")
    op.drop_column("bookings", "revision")
