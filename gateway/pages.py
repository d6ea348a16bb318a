"""The customer's booking page: `/` (choose, book, pay) and `/b/<booking_id>` (my booking).

The server sends only the page's shell (a Jinja2 template) and static files; everything the
page shows comes from the public JSON API in the browser. The booking's token never reaches
the server in a URL: it travels in the fragment (`/b/<id>#t=<token>`), which browsers keep.
"""
import hashlib
import json
import mimetypes
import re
from functools import lru_cache
from pathlib import Path

import jinja2
from werkzeug.wrappers import Response

from gateway.errors import RouteNotFound
from gateway.mock_checkout import HtmlPageEntrypoint
from services.common.config import Config

ROOT = Path(__file__).parent
STATIC_DIR = ROOT / "static"
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"),
                               autoescape=True)
BOOKING_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STATIC_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
# No script or style from anywhere but here, none inline; the page talks only to this host.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    # the path of /b/<id> is nobody else's business (the fragment is never sent anyway)
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
A_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=None)
def static_version(name):
    """A short hash of a static file: its URL changes when it does, so it can be cached
    for a year."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name):
    return f"/static/{name}?v={static_version(name)}"


@lru_cache(maxsize=None)
def page_words(page_name):
    """The words of a page's script in both languages (gateway/static/words/<page>.json); the
    template puts them in the page as a JSON data block."""
    return json.loads((STATIC_DIR / "words" / f"{page_name}.json").read_text(encoding="utf-8"))


TEMPLATES.globals.update(static_url=static_url, page_words=page_words)
TEMPLATES.policies["json.dumps_kwargs"] = {"ensure_ascii": False}  # the words as they are


class PageSettings(Config):
    def build(self, config):
        return page_settings(config)


def page_settings(config):
    page = config.get("BOOKING_PAGE") or {}
    rules = config["BOOKING"]
    return {
        "timezone": config["STUDIO_TIMEZONE"],
        "payment_gateway": page.get("payment_gateway") or "mock",
        "studio_name": page.get("studio_name") or "",
        "full_refund_hours": rules["full_refund_hours"],
        "horizon_days": rules["horizon_days"],
        "slot_minutes": rules["slot_minutes"],
    }


def render_page(settings, view, booking_id=""):
    html = TEMPLATES.get_template("page.html").render(
        view=view, booking_id=booking_id, **settings)
    return Response(html, status=200, mimetype="text/html", headers=PAGE_HEADERS)


def static_file(request, name):
    """A file under gateway/static; 404 (not 500) for anything that is not one."""
    path = STATIC_DIR / name
    if not STATIC_NAME.match(name) or ".." in name.split("/") or not path.is_file():
        raise RouteNotFound(f"There is no file /static/{name}.", {"path": f"/static/{name}"})
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = Response(path.read_bytes(), mimetype=mimetype,
                        headers={"X-Content-Type-Options": "nosniff"})
    version = static_version(name)
    response.set_etag(version)
    # A versioned URL never changes content; a bare one is checked again each time.
    response.headers["Cache-Control"] = (
        f"public, max-age={A_YEAR}, immutable" if request.args.get("v") == version
        else "no-cache")
    return response.make_conditional(request)


page = HtmlPageEntrypoint.decorator


class BookingPages:
    page_settings = PageSettings()

    @page("GET", "/")
    def booking_page(self, request):
        return render_page(self.page_settings, "book")

    @page("GET", "/b/<booking_id>")
    def my_booking_page(self, request, booking_id):
        if not BOOKING_ID.match(booking_id):
            raise RouteNotFound("There is no such booking page.", {"path": request.path})
        return render_page(self.page_settings, "booking", booking_id)

    @page("GET", "/static/<path:name>")
    def static(self, request, name):
        return static_file(request, name)

    @page("GET", "/favicon.ico")
    def favicon(self, request):
        """Browsers ask for it on every page (the mock checkout has no icon of its own)."""
        return static_file(request, "favicon.svg")
