"""What operators read about money, aggregated in SQL: takings by day, provider and booking,
and the payments and refunds that need a person (pending too long, refunds that failed)."""
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text

# A payment counts as money in once it succeeded, whatever was refunded of it later.
MONEY_IN = ("succeeded", "partially_refunded", "refunded")
PROBLEMS_LIMIT = 100

_TAKINGS = text("""
    WITH money_in AS (
        SELECT (created_at AT TIME ZONE :tz)::date AS day, provider, booking_id,
               sum(amount) AS amount, count(*) AS payments
        FROM payments
        WHERE status IN :paid AND created_at >= :start AND created_at < :end
        GROUP BY 1, 2, 3),
    money_out AS (
        SELECT (r.created_at AT TIME ZONE :tz)::date AS day, p.provider, p.booking_id,
               sum(r.amount) AS amount, count(*) AS refunds
        FROM refunds r JOIN payments p ON p.id = r.payment_id
        WHERE r.status = 'succeeded' AND r.created_at >= :start AND r.created_at < :end
        GROUP BY 1, 2, 3)
    SELECT coalesce(i.day, o.day) AS day, coalesce(i.provider, o.provider) AS provider,
           coalesce(i.booking_id, o.booking_id) AS booking_id,
           coalesce(i.amount, 0) AS money_in, coalesce(o.amount, 0) AS refunds,
           coalesce(i.payments, 0) AS payments, coalesce(o.refunds, 0) AS refund_count
    FROM money_in i FULL JOIN money_out o
      ON i.day = o.day AND i.provider = o.provider AND i.booking_id = o.booking_id
    ORDER BY 1, 2""").bindparams(bindparam("paid", expanding=True))


def takings(session, start, end, tz_name):
    """Money in and refunds out per (local day, provider, booking) in [start, end): rows
    {day, provider, booking_id, money_in, refunds, payments, refund_count}, in kopecks."""
    start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
    rows = session.execute(_TAKINGS, {"tz": tz_name, "paid": list(MONEY_IN), "start": start, "end": end}).mappings()
    return [{**row, "day": row["day"].isoformat(), "booking_id": str(row["booking_id"]),
             "money_in": int(row["money_in"]), "refunds": int(row["refunds"])}
            for row in rows]


def problems(session, now, pending_after_minutes):
    """Payments pending at the provider longer than `pending_after_minutes`, and refunds
    that failed: {pending_payments, failed_refunds, counts}."""
    before = now - timedelta(minutes=pending_after_minutes)
    pending = session.execute(text(
        "SELECT id, booking_id, kind, amount, currency, gateway, status, created_at, "
        "checked_at, count(*) OVER () AS total FROM payments "
        "WHERE status = 'pending' AND created_at < :before ORDER BY created_at LIMIT :n"),
        {"before": before, "n": PROBLEMS_LIMIT}).mappings().all()
    failed = session.execute(text(
        "SELECT r.id, r.payment_id, p.booking_id, r.amount, p.currency, p.gateway, r.reason, "
        "r.provider_state ->> 'error' AS error, r.created_at, count(*) OVER () AS total "
        "FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.status = 'failed' "
        "ORDER BY r.created_at DESC LIMIT :n"), {"n": PROBLEMS_LIMIT}).mappings().all()
    return {
        "pending_payments": [_view(row) for row in pending],
        "failed_refunds": [_view(row) for row in failed],
        "counts": {"pending_payments": pending[0]["total"] if pending else 0,
                   "failed_refunds": failed[0]["total"] if failed else 0},
    }


def _view(row):
    item = {key: value for key, value in row.items() if key != "total"}
    for key, value in item.items():
        if hasattr(value, "isoformat"):
            item[key] = value.isoformat()
        elif key.endswith("id") and value is not None:
            item[key] = str(value)
    return item
