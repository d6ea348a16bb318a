"""RPC input is validated with the contract's marshmallow schema, one way everywhere."""
from marshmallow import ValidationError

from contracts.errors.base import InvalidRequest


def load(schema_cls, data, error=InvalidRequest):
    """`data` loaded by the contract schema; bad fields raise `error` (422) with marshmallow's
    messages per field as its details."""
    try:
        return schema_cls().load(data or {})
    except ValidationError as exc:
        raise error("Some fields are invalid.", exc.messages) from None

