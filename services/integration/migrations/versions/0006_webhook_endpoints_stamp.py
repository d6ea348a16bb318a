"""webhook_endpoints_stamp: a new stamp whenever the endpoints that events are queued for change

Revision ID: 0006_webhook_endpoints_stamp
Revises: 0005_correlation

Every event logged queues a delivery for each active endpoint that wants it. The event log's
write returns this stamp, so a process asks for the endpoints again only when it has moved: in
the same statement, so no change committed before the write can be missed. A trigger stamps it,
whatever changed the endpoints (the service, or an operator in psql).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006_webhook_endpoints_stamp"
down_revision = "0005_correlation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webhook_endpoints_stamp",
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default="true"),
        sa.Column("stamp", UUID(as_uuid=False), nullable=False,
                  server_default=sa.text("gen_random_uuid()")),
        sa.CheckConstraint("singleton", name="webhook_endpoints_stamp_one_row"))
    op.execute("INSERT INTO webhook_endpoints_stamp DEFAULT VALUES")
    op.execute("""
        CREATE FUNCTION stamp_webhook_endpoints() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE webhook_endpoints_stamp SET stamp = gen_random_uuid();
            RETURN NULL;
        END $$""")
    # the columns that decide which events an endpoint gets queued (not its secrets, nor
    # the failure bookkeeping the couriers write)
    op.execute("CREATE TRIGGER webhook_endpoints_changed "
               "AFTER INSERT OR DELETE OR UPDATE OF active, event_types ON webhook_endpoints "
               "FOR EACH STATEMENT EXECUTE FUNCTION stamp_webhook_endpoints()")


def downgrade():
    op.execute("DROP TRIGGER webhook_endpoints_changed ON webhook_endpoints")
    op.execute("DROP FUNCTION stamp_webhook_endpoints()")
    op.drop_table("webhook_endpoints_stamp")
