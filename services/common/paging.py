"""Keyset paging, one way for every list: a page is `limit` rows after the position an opaque
cursor names, and the cursor of the next page is made from the last row given out."""
import base64
import json

from contracts.errors.base import InvalidRequest


def page(session, query, limit, position_of):
    """(rows, next_cursor) of an ordered query: `position_of(row)` -> the values the order is
    by; next_cursor is None on the last page."""
    rows = session.scalars(query.limit(limit + 1)).all()
    next_cursor = encode_cursor(*position_of(rows[limit - 1])) if len(rows) > limit else None
    return rows[:limit], next_cursor


def encode_cursor(*values):
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


def decode_cursor(cursor, parse, error=InvalidRequest):
    """`parse(*values)` of the position a cursor names; a cursor this API did not give out
    is `error` (422)."""
    try:
        return parse(*json.loads(base64.urlsafe_b64decode(cursor.encode())))
    except (ValueError, TypeError):
        raise error("The cursor is not one this API gave out.",
                    {"cursor": ["unknown cursor"]}) from None

