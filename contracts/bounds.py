"""What the API takes at all, whatever a field means: dates within the years a studio books in,
UTC offsets that exist, ids that fit the database. The limits show in the OpenAPI document."""
from datetime import date, datetime, timedelta

from marshmallow import ValidationError, fields, validate

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# Real zones run from -12:00 to +14:00; PostgreSQL refuses offsets past ±15:59.
MAX_UTC_OFFSET = timedelta(hours=14)
YEARS = f"between {FIRST_DAY} and {LAST_DAY}"
# An integer id that fits PostgreSQL's `integer`.
ROW_ID = validate.Range(min=1, max=2**31 - 1)
EMAIL = validate.Length(max=254)      # RFC 5321's limit on an address


class _WithinStudioYears:
    """A date or time field that refuses days outside FIRST_DAY..LAST_DAY and offsets past
    ±14:00, and says so in its description."""

    def __init__(self, *args, metadata=None, **kwargs):
        metadata = dict(metadata or {})
        metadata["description"] = " ".join(filter(None, [metadata.get("description"),
                                                         f"({YEARS})"]))
        super().__init__(*args, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        day = result.date() if isinstance(result, datetime) else result
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(f"Must be {YEARS}.")
        offset = result.utcoffset() if isinstance(result, datetime) else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise ValidationError("The UTC offset must be between -14:00 and +14:00.")
        return result


class Day(_WithinStudioYears, fields.Date):
    pass


class Moment(_WithinStudioYears, fields.DateTime):
    pass


class AwareMoment(_WithinStudioYears, fields.AwareDateTime):
    pass
