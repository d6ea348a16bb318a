"""The one clock and the one way a time is written for callers."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def now():
    """Now, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def iso(moment, tz=None):
    """ISO 8601 text of an aware time (None stays None); in `tz` (a tzinfo or a zone name)
    when given, else in the offset it carries."""
    if moment is None:
        return None
    if tz is None:
        return moment.isoformat()
    return moment.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz).isoformat()
