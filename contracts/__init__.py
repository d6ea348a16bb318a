"""What crosses process boundaries: HTTP bodies, RPC payloads and event envelopes."""
import functools


@functools.cache
def schema(schema_cls):
    """The one instance of a marshmallow schema class. Building a schema (its fields, their
    bindings) costs more than a load with it, and an instance holds no state between calls."""
    return schema_cls()
