"""What operators read about the calendar, aggregated in SQL: occupancy per hall, the
weekday x hour heat map, the halls of bookings (for takings by hall), bookings for export."""
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text

from contracts.reports import ReportQuerySchema
from services.booking import store
from services.common.input import load

# Time that counts as taken: bookings that happen (or happened), not holds or cancellations.
OCCUPYING = ("confirmed", "completed")
DESK = "desk"   # the takings' "provider" of money taken at the studio's desk
EXPORT_LIMIT = 10000

_BOOKED_MINUTES = text("""
    SELECT hall_id,
           sum(extract(epoch FROM least(end_at, :end) - greatest(start_at, :start)) / 60)
             AS minutes, count(*) AS bookings
    FROM bookings
    WHERE status IN :occupying AND start_at < :end AND end_at > :start
    GROUP BY hall_id""").bindparams(bindparam("occupying", expanding=True))

# Each booked quarter hour, counted under its local weekday (0 = Monday) and hour.
_HEAT = text("""
    SELECT b.hall_id, (extract(isodow FROM q AT TIME ZONE :tz) - 1)::int AS weekday,
           extract(hour FROM q AT TIME ZONE :tz)::int AS hour, count(*) AS quarters
    FROM bookings b,
         generate_series(greatest(b.start_at, :start), least(b.end_at, :end)
                         - interval '15 minutes', interval '15 minutes') AS q
    WHERE b.status IN :occupying AND b.start_at < :end AND b.end_at > :start
    GROUP BY 1, 2, 3""").bindparams(bindparam("occupying", expanding=True))


# Desk money per local day and booking, in the rows payments' takings answer (no refunds: a
# desk payment is given back at the desk, not through a provider).
_DESK_TAKINGS = text("""
    SELECT (taken_at AT TIME ZONE :tz)::date AS day, booking_id,
           sum(amount) AS money_in, count(*) AS payments
    FROM desk_payments
    WHERE taken_at >= :start AND taken_at < :end
    GROUP BY 1, 2 ORDER BY 1""")


def _days(date_from, date_to):
    """The range as dates, checked by the contract (YYYY-MM-DD, in order, at most a year)."""
    query = load(ReportQuerySchema, {"date_from": str(date_from), "date_to": str(date_to)})
    return query["date_from"], query["date_to"]


def _span(rules, date_from, date_to):
    start = datetime.combine(date_from, datetime.min.time(), rules.tz)
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), rules.tz)
    return start, end


def occupancy(session, rules, date_from, date_to):
    """Per hall: open minutes (its opening hours over the days), booked minutes (confirmed
    and completed bookings), bookings, and occupancy in %; plus the weekday x hour heat map
    of booked quarter hours per hall, each cell in % of that hour's quarters in the range."""
    date_from, date_to = _days(date_from, date_to)
    start, end = _span(rules, date_from, date_to)
    args = {"start": start, "end": end, "occupying": list(OCCUPYING), "tz": rules.timezone}
    booked = {row.hall_id: row for row in session.execute(_BOOKED_MINUTES, args)}
    heat = {}
    for row in session.execute(_HEAT, args):
        heat.setdefault(row.hall_id, []).append((row.weekday, row.hour, row.quarters))
    days = [date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)]
    weekday_counts = [sum(1 for day in days if day.weekday() == wd) for wd in range(7)]
    halls = []
    for row in store.list_hall_rows(session, include_inactive=True):
        hours = store.hall_from_row(row).hours(rules)
        open_minutes = sum(_open_minutes(hours.minutes(day.weekday())) for day in days)
        minutes = int(booked[row.id].minutes) if row.id in booked else 0
        if not row.active and not minutes:
            continue
        halls.append({
            "hall_id": row.id, "hall_name": row.name, "open_minutes": open_minutes,
            "booked_minutes": minutes,
            "bookings": int(booked[row.id].bookings) if row.id in booked else 0,
            "occupancy_percent": round(100 * minutes / open_minutes, 1) if open_minutes else 0,
            "heat": [{"weekday": wd, "hour": hour,
                      "percent": round(100 * quarters / (4 * weekday_counts[wd]), 1)}
                     for wd, hour, quarters in sorted(heat.get(row.id, ()))],
        })
    return {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "timezone": rules.timezone, "halls": halls}


def _open_minutes(opening):
    return opening[1] - opening[0] if opening else 0


def halls_of(session, booking_ids):
    """{booking id: hall id} for the given bookings (unknown ids left out)."""
    if not booking_ids:
        return {}
    rows = session.execute(text("SELECT id::text AS id, hall_id FROM bookings "
                                "WHERE id::text IN :ids").bindparams(
        bindparam("ids", expanding=True)), {"ids": list(booking_ids)})
    return {row.id: row.hall_id for row in rows}


def export_rows(session, rules, date_from, date_to):
    """Bookings starting in the range, by start, as flat rows for a CSV (at most
    EXPORT_LIMIT)."""
    date_from, date_to = _days(date_from, date_to)
    start, end = _span(rules, date_from, date_to)
    rows = session.execute(text("""
        SELECT b.id::text AS id, h.name AS hall, b.start_at, b.end_at, b.status,
               b.customer ->> 'name' AS customer_name, b.customer ->> 'phone' AS phone,
               b.customer ->> 'email' AS email, b.price_total, b.amount_paid,
               b.price_total - b.amount_paid AS remaining_due, b.refund_due, b.currency,
               b.cancelled_by, b.created_at
        FROM bookings b JOIN halls h ON h.id = b.hall_id
        WHERE b.start_at >= :start AND b.start_at < :end
        ORDER BY b.start_at, b.id LIMIT :n"""),
        {"start": start, "end": end, "n": EXPORT_LIMIT}).mappings()
    return [{key: (value.astimezone(rules.tz).isoformat() if isinstance(value, datetime)
                   else value) for key, value in row.items()} for row in rows]


def desk_takings(session, rules, date_from, date_to):
    """Money taken at the desk per (local day, booking) over local days date_from..date_to,
    as payments' takings rows with provider "desk", in kopecks."""
    date_from, date_to = _days(date_from, date_to)
    start, end = _span(rules, date_from, date_to)
    rows = session.execute(_DESK_TAKINGS, {"tz": rules.tz.key, "start": start, "end": end})
    return [{"day": row.day.isoformat(), "provider": DESK, "booking_id": str(row.booking_id),
             "money_in": int(row.money_in), "refunds": 0, "payments": row.payments,
             "refund_count": 0} for row in rows]
