"""What the studio says to customers and staff, and to whom.

Texts live as Jinja2 files under templates/<lang>/<name>.txt so the studio can reword them
without touching code. The first line of every text is its subject (e-mail uses it; Telegram
shows it as the opening line). Amounts arrive in kopecks and times in UTC or with an offset;
both are shown the way people in the studio's language and time zone read them.
"""
import functools
from datetime import datetime
from datetime import timezone as utc_zone
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "ru"
STUDIO_TIMEZONE = "Europe/Moscow"

# A no-break space keeps "1 500,00 ₽" on one line in Telegram and mail clients alike.
NBSP = "\u00a0"
RUSSIAN_CURRENCY_SIGNS = {"RUB": "₽"}
ENGLISH_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TemplateNotFound(ValueError):
    """No text with this name in this language."""


def languages():
    return sorted(path.name for path in TEMPLATES_DIR.iterdir() if path.is_dir())


def available_templates(lang=DEFAULT_LANGUAGE):
    folder = TEMPLATES_DIR / lang
    if not folder.is_dir():
        raise TemplateNotFound(f"no templates in language {lang!r}")
    return sorted(path.stem for path in folder.glob("*.txt"))


def render(template, context, lang=DEFAULT_LANGUAGE, timezone=STUDIO_TIMEZONE):
    """The text for one event payload; a missing required field raises jinja2.UndefinedError."""
    if lang not in languages():
        raise TemplateNotFound(f"no templates in language {lang!r}")
    try:
        compiled = _environment(lang, timezone).get_template(f"{template}.txt")
    except jinja2.TemplateNotFound:
        raise TemplateNotFound(f"no template {template!r} in language {lang!r}") from None
    return compiled.render(context).strip()


def choose_customer_recipients(customer):
    """Where to reach a customer: [(channel name, recipient)], Telegram first."""
    customer = customer or {}
    recipients = []
    chat_id = customer.get("telegram_chat_id")
    if chat_id not in (None, ""):
        recipients.append(("telegram", str(chat_id)))
    email = (customer.get("email") or "").strip()
    if email:
        recipients.append(("email", email))
    return recipients


def format_money(kopecks, currency="RUB", lang=DEFAULT_LANGUAGE):
    """1 500,00 ₽ in Russian, 1,500.00 RUB in English."""
    # A float here means someone did money arithmetic in floats upstream: refuse it.
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise TypeError(f"money must be an integer number of kopecks, got {kopecks!r}")
    sign = "-" if kopecks < 0 else ""
    units, cents = divmod(abs(kopecks), 100)
    if lang == "ru":
        amount = f"{units:,}".replace(",", NBSP) + f",{cents:02d}"
        return f"{sign}{amount}{NBSP}{RUSSIAN_CURRENCY_SIGNS.get(currency, currency)}"
    return f"{sign}{units:,}.{cents:02d}{NBSP}{currency}"


def studio_time(value, timezone=STUDIO_TIMEZONE):
    """An ISO-8601 string or datetime moved into the studio's time zone."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        # Times are stored as UTC everywhere, so a bare time can only mean UTC.
        moment = moment.replace(tzinfo=utc_zone.utc)
    return moment.astimezone(ZoneInfo(timezone))


def format_local_date(value, lang=DEFAULT_LANGUAGE, timezone=STUDIO_TIMEZONE):
    """22.11.2026 in Russian, 22 Nov 2026 in English (no OS locale involved)."""
    moment = studio_time(value, timezone)
    if lang == "ru":
        return moment.strftime("%d.%m.%Y")
    return f"{moment.day} {ENGLISH_MONTHS[moment.month - 1]} {moment.year}"


def format_local_time(value, timezone=STUDIO_TIMEZONE):
    return studio_time(value, timezone).strftime("%H:%M")


@functools.lru_cache(maxsize=None)
def _environment(lang, timezone):
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / lang),
        # A required field missing from a payload must fail the test, not print an empty gap.
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text for Telegram and text/plain mail, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = lambda kopecks, currency: format_money(kopecks, currency, lang)
    environment.filters["local_date"] = lambda value: format_local_date(value, lang, timezone)
    environment.filters["local_time"] = lambda value: format_local_time(value, timezone)
    return environment
