"""The operators' dashboard: `/admin/` (schedule, booking card) and `/admin/sign-in`.

As the booking page does, the server sends only the page's shell and static files; every
number on it comes from the JSON API in the browser, with the session cookie. A page asked
for without a live session redirects to the sign-in page; `/api/admin/live` streams every
booking's events to the schedule.
"""
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from contracts.errors.integration import SessionEnded
from gateway import auth as access
from gateway.http import api
from gateway.live import EVERY_BOOKING, EventStream, stream_response_environ
from gateway.pages import PAGE_HEADERS, TEMPLATES, page

SIGN_IN_PATH = "/admin/sign-in"


def dashboard_settings(config):
    rules = config["BOOKING"]
    opens, closes = (rules.get("opening_hours") or {}).get("default", ["09:00", "22:00"])
    return {"timezone": config["STUDIO_TIMEZONE"], "slot_minutes": rules["slot_minutes"],
            "opens": opens, "closes": closes,
            "manager_refund_limit": int(config["OPERATORS"]["manager_refund_limit"])}


def render_dashboard(settings, view):
    html = TEMPLATES.get_template("admin.html").render(view=view, **settings)
    return Response(html, status=200, mimetype="text/html", headers=PAGE_HEADERS)


class AdminPages:
    @page("GET", "/admin")
    def dashboard_without_slash(self, request):
        return redirect("/admin/", code=301)

    @page("GET", "/admin/")
    def dashboard(self, request):
        session_token = request.cookies.get(access.SESSION_COOKIE)
        if access.bearer_token(request) is not None or not session_token:
            # A bearer token (a customer's or the machine's) does not open the pages.
            return redirect(SIGN_IN_PATH, code=303)
        try:
            self.integration.session_operator(session_token)
        except SessionEnded:
            return redirect(SIGN_IN_PATH, code=303)
        return render_dashboard(self.dashboard_settings, "dashboard")

    @page("GET", SIGN_IN_PATH)
    def sign_in_page(self, request):
        return render_dashboard(self.dashboard_settings, "sign-in")

    @api("GET", "/api/admin/live", tag="operators", auth="admin",
         content_type="text/event-stream", errors=[503],
         summary="Server-Sent Events of every booking for the schedule: `state` first, then "
                 "booking.* and payment.* events as they happen")
    def dashboard_events(self, request):
        hub = self.live.hub
        subscription = hub.open(EVERY_BOOKING)
        stream_response_environ(request)
        return Response(EventStream(hub, subscription, {"connected": True},
                                    self.live.heartbeat_seconds),
                        mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
