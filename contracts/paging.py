"""The fields of every paged list: a query takes `cursor` and `limit`, a page answers
`next_cursor` (keyset paging; services.common.paging makes and reads the cursors)."""
from marshmallow import fields, validate

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def cursor(**metadata):
    """The query's cursor: the next_cursor of the previous page."""
    return fields.String(**({"metadata": metadata} if metadata else {}))


def limit():
    return fields.Integer(load_default=DEFAULT_LIMIT,
                          validate=validate.Range(min=1, max=MAX_LIMIT))


def next_cursor(**metadata):
    """The page's cursor of the next page; null on the last."""
    return fields.String(allow_none=True, **({"metadata": metadata} if metadata else {}))
