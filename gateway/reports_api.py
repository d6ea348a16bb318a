"""Reports and problems for the dashboard. Each service aggregates its own data in SQL; the
gateway asks them side by side and puts the answers together."""
import csv
import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import eventlet
from werkzeug.wrappers import Response

from contracts.errors.base import ServiceUnavailable
from contracts.reports import (
    CONSUMERS,
    OccupancySchema,
    ProblemsSchema,
    ReportQuerySchema,
    RetryOutcomeSchema,
    TakingsSchema,
)
from gateway.errors import RouteNotFound
from gateway.http import api

TAG = "reports"
CSV_COLUMNS = ("id", "hall", "start_at", "end_at", "status", "customer_name", "phone", "email",
               "price_total", "amount_paid", "remaining_due", "refund_due", "currency",
               "cancelled_by", "created_at")


def _money(money_in=0, refunds=0):
    return {"money_in": money_in, "refunds": refunds, "net": money_in - refunds}


def _add(totals, key, row):
    entry = totals.setdefault(key, [0, 0])
    entry[0] += row["money_in"]
    entry[1] += row["refunds"]


def combine_takings(rows, hall_of, hall_names, date_from, date_to):
    """One report from payments' aggregated rows and booking's halls of those bookings."""
    by_day, by_provider, by_hall, total = {}, {}, {}, {}
    for row in rows:
        _add(by_day, row["day"], row)
        _add(by_provider, row["provider"], row)
        _add(by_hall, hall_of.get(row["booking_id"]), row)
        _add(total, "all", row)
    days = [(date_from + timedelta(days=n)).isoformat()
            for n in range((date_to - date_from).days + 1)]
    return {
        "date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "currency": "RUB",
        "total": _money(*total.get("all", (0, 0))),
        "by_day": [{"date": day, **_money(*by_day.get(day, (0, 0)))} for day in days],
        "by_provider": [{"provider": p, **_money(*m)} for p, m in sorted(by_provider.items())],
        "by_hall": [{"hall_id": h, "hall_name": hall_names.get(h), **_money(*m)}
                    for h, m in sorted(by_hall.items(), key=lambda item: item[0] or 0)],
    }


def _inbox_item(service, event):
    payload = (event.get("envelope") or {}).get("payload") or {}
    return {"service": service, **{k: event.get(k) for k in (
        "event_id", "handler", "type", "source", "status", "attempts", "last_error",
        "received_at", "next_attempt_at")}, "booking_id": payload.get("booking_id")}


class ReportsApi:
    def _local_span(self, query):
        tz = ZoneInfo(self.dashboard_settings["timezone"])
        start = datetime.combine(query["date_from"], time.min, tz)
        end = datetime.combine(query["date_to"] + timedelta(days=1), time.min, tz)
        return start, end

    @api("GET", "/api/admin/reports/takings", tag=TAG, auth="admin", role="owner",
         query=ReportQuerySchema, response=TakingsSchema,
         summary="Takings of local days date_from..date_to: money in (payments that "
                 "succeeded, and money taken at the desk as provider \"desk\"), refunds out "
                 "and net, in total, per day, per provider and per hall (owner)")
    def takings_report(self, request, query):
        loaded = ReportQuerySchema().load(query)
        start, end = self._local_span(loaded)
        rows = self.payments.takings(start.isoformat(), end.isoformat(),
                                     self.dashboard_settings["timezone"])
        rows += self.booking.desk_takings(loaded["date_from"].isoformat(),
                                          loaded["date_to"].isoformat())
        hall_of = self.booking.halls_of_bookings(sorted({row["booking_id"] for row in rows}))
        halls = {hall["id"]: hall["name"]
                 for hall in self.booking.list_halls(include_inactive=True)}
        return combine_takings(rows, {k: int(v) for k, v in hall_of.items()}, halls,
                               loaded["date_from"], loaded["date_to"])

    @api("GET", "/api/admin/reports/occupancy", tag=TAG, auth="admin", role="owner",
         query=ReportQuerySchema, response=OccupancySchema,
         summary="Occupancy per hall in % of its opening hours over local days "
                 "date_from..date_to, and the weekday x hour heat map (owner)")
    def occupancy_report(self, request, query):
        return self.booking.occupancy_report(query["date_from"], query["date_to"])

    @api("GET", "/api/admin/reports/bookings.csv", tag=TAG, auth="admin", role="owner",
         query=ReportQuerySchema, content_type="text/csv",
         summary="Bookings starting on local days date_from..date_to as CSV (owner)")
    def bookings_csv(self, request, query):
        rows = self.booking.export_bookings(query["date_from"], query["date_to"])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        name = f"bookings-{query['date_from']}-{query['date_to']}.csv"
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @api("GET", "/api/admin/problems", tag=TAG, auth="admin", response=ProblemsSchema,
         summary="What needs a person: dead and failed events of every service's inbox, "
                 "payments pending too long, refunds and notifications that failed; counts "
                 "for the menu's badge")
    def problems(self, request):
        minutes = self.operator_rules["pending_payment_problem_minutes"]
        asks = {f"{name}:{status}": (lambda name=name, status=status: getattr(
                    getattr(self, name), f"list_{status}_events")(limit=100))
                for name in CONSUMERS for status in ("dead", "failed")}
        asks["payments:money"] = lambda: self.payments.payment_problems(minutes)
        asks["notifications:failed_notifications"] = \
            lambda: self.notifications.list_notifications(status="failed", limit=100)

        def ask(item):
            key, call = item
            try:
                return key, call()
            except ServiceUnavailable:
                return key, None

        answers = dict(eventlet.GreenPool().imap(ask, asks.items()))
        unavailable = sorted({key.split(":")[0] for key, value in answers.items()
                              if value is None})
        found = {"dead_events": [], "failed_events": [], "pending_payments": [],
                 "failed_refunds": [], "failed_notifications": []}
        for name in CONSUMERS:
            for status in ("dead", "failed"):
                found[f"{status}_events"] += [_inbox_item(name, event) for event in
                                              answers.get(f"{name}:{status}") or ()]
        money = answers.get("payments:money") or {}
        found["pending_payments"] = money.get("pending_payments", [])
        found["failed_refunds"] = money.get("failed_refunds", [])
        found["failed_notifications"] = (
            answers.get("notifications:failed_notifications") or {}).get("items", [])
        counts = {key: len(items) for key, items in found.items()}
        counts.update((money.get("counts") or {}))
        counts["total"] = sum(counts.values())
        return {"counts": counts, **found, "unavailable": unavailable}

    @api("POST", "/api/admin/problems/events/<service>/<event_id>/retry", tag=TAG,
         auth="admin", response=RetryOutcomeSchema, errors=[404],
         summary="Run a dead or failed event's handlers in that service again now")
    def retry_problem_event(self, request, service, event_id):
        if service not in CONSUMERS:
            raise RouteNotFound(f"{service!r} has no inbox.",
                                {"service": service, "services": list(CONSUMERS)})
        outcomes = getattr(self, service).retry_dead_event(event_id)
        if not outcomes:
            raise RouteNotFound("That service has no dead or failed event of this id.",
                                {"event_id": event_id})
        return {"service": service, "event_id": event_id, "outcomes": outcomes}
