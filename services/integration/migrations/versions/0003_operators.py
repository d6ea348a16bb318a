"""operators: accounts, sign-in sessions, the audit trail

Revision ID: 0003_operators
Revises: 0003_webhooks
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_operators"
down_revision = "0003_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("role IN ('owner', 'manager', 'viewer')", name="operator_role"),
    )
    op.create_table(
        "operator_sessions",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ip", sa.Text),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("role", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("booking_id", sa.Text),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("ip", sa.Text),
        sa.Column("request_id", sa.Text),
    )
    op.create_index("audit_log_at", "audit_log", ["at"])
    op.create_index("audit_log_booking", "audit_log", ["booking_id", "at"])
    op.create_index("audit_log_operator", "audit_log", ["operator", "at"])
    op.create_index("audit_log_sign_in_failed", "audit_log", ["at"],
                    postgresql_where=sa.text("action = 'sign_in' AND outcome <> 'ok'"))


def downgrade():
    op.drop_table("audit_log")
    op.drop_table("operator_sessions")
    op.drop_table("operators")
