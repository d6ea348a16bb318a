"""notifications.calendar: the .ics an e-mail carries

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
    op.add_column("notifications", sa.Column("calendar", sa.Text))


def downgrade():
    op.drop_column("notifications", "calendar")
