"""halls: every change of a hall row is announced (NOTIFY booking_halls) at its commit

Revision ID: 0007_hall_changes
Revises: 0006_desk_payments

Each booking process keeps its halls parsed (services.booking.store.halls). While it listens on
this channel it trusts that copy without asking the hall's stamp on every use; any change of
the row, by the service or by hand in psql, reaches it. Special days touch their hall's row.
"""
from alembic import op

revision = "0007_hall_changes"
down_revision = "0006_desk_payments"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        CREATE FUNCTION announce_hall_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('booking_halls', '');
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER hall_changed AFTER INSERT OR UPDATE OR DELETE ON halls "
               "FOR EACH STATEMENT EXECUTE FUNCTION announce_hall_change()")


def downgrade():
    op.execute("DROP TRIGGER hall_changed ON halls")
    op.execute("DROP FUNCTION announce_hall_change()")
