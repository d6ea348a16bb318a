"""What callers send: validated with the contract's marshmallow schema, one way everywhere."""
import uuid

from marshmallow import ValidationError

from contracts import schema
from contracts.errors.base import InvalidRequest


def load(schema_cls, data, error=InvalidRequest, message="Some fields are invalid."):
    """`data` loaded by the contract schema; bad fields raise `error` (422) with marshmallow's
    messages per field as its details."""
    try:
        return schema(schema_cls).load(data or {})
    except ValidationError as exc:
        raise error(message, exc.messages) from None



def given(**arguments):
    """The keyword arguments a caller gave: None means "not given" (the schema's default)."""
    return {name: value for name, value in arguments.items() if value is not None}


def uuid_or_none(value):
    """The canonical text of a UUID, or None for anything that is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None
