"""closures: blocks of a hall's time (holidays, maintenance, the studio's own shoots) and
special days (hours of their own for a date)

Revision ID: 0005_closures
Revises: 0004_reschedules

Bookings and blocks live in two tables, so one exclusion constraint cannot keep them apart.
Two triggers do, under one per-hall advisory lock: a booking taking a range (insert, or an
update that moves it or makes it active again) takes the lock shared, so bookings never wait
for each other, and checks that no block overlaps its busy range; making a block takes it
exclusive (services/booking/store.py) and then sees every booking committed before it. Either
way the later one finds the earlier: of a booking and a block made at once, exactly one wins.
The trigger raises exclusion_violation, as the bookings' own constraint does, naming itself.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSTZRANGE, UUID

revision = "0005_closures"
down_revision = "0004_reschedules"
branch_labels = None
depends_on = None

# The advisory lock's first key: "closures of a hall" (the second key is the hall's id).
HALL_TIME_LOCK = 7305
ACTIVE = "('pending_payment', 'confirmed')"


def upgrade():
    op.create_table(
        "blocks",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("hall_id", sa.Integer, sa.ForeignKey("halls.id"), nullable=False),
        sa.Column("period", TSTZRANGE, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("NOT isempty(period)", name="block_not_empty"),
    )
    op.execute("CREATE INDEX blocks_of_hall ON blocks USING gist (hall_id, period)")
    op.create_table(
        "special_days",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("hall_id", sa.Integer, sa.ForeignKey("halls.id")),   # null: every hall
        sa.Column("opens", sa.Text),     # "HH:MM"; both null: closed all day
        sa.Column("closes", sa.Text),    # "HH:MM", "24:00" allowed
        sa.Column("note", sa.Text),
    )
    op.execute("CREATE UNIQUE INDEX special_day_of_hall ON special_days (day, hall_id) "
               "NULLS NOT DISTINCT")
    op.execute(f"""
        CREATE FUNCTION booking_not_on_block() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({HALL_TIME_LOCK}, NEW.hall_id);
            IF EXISTS (SELECT 1 FROM blocks WHERE hall_id = NEW.hall_id
                       AND period && NEW.busy) THEN
                RAISE EXCEPTION 'the hall is closed for part of this time'
                    USING ERRCODE = 'exclusion_violation',
                          CONSTRAINT = 'booking_not_on_block';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""")
    op.execute(f"""
        CREATE TRIGGER booking_not_on_block_insert BEFORE INSERT ON bookings
        FOR EACH ROW WHEN (NEW.status IN {ACTIVE}) EXECUTE FUNCTION booking_not_on_block()""")
    # a payment or any other change of a booking that keeps its range never trips on a block
    # made later over it (with force): only a move, or a return to active, is checked
    op.execute(f"""
        CREATE TRIGGER booking_not_on_block_update BEFORE UPDATE ON bookings
        FOR EACH ROW WHEN (NEW.status IN {ACTIVE} AND (OLD.status NOT IN {ACTIVE}
            OR OLD.hall_id IS DISTINCT FROM NEW.hall_id OR OLD.busy IS DISTINCT FROM NEW.busy))
        EXECUTE FUNCTION booking_not_on_block()""")


def downgrade():
    op.execute("DROP TRIGGER booking_not_on_block_update ON bookings")
    op.execute("DROP TRIGGER booking_not_on_block_insert ON bookings")
    op.execute("DROP FUNCTION booking_not_on_block()")
    op.drop_table("special_days")
    op.drop_table("blocks")
