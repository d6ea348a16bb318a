"""The errors services raise across RPC: part of each service's contract.

`base` holds the shared kinds (NotFound, Conflict, InvalidRequest, ...) that the gateway maps
to HTTP statuses; each service has its module of the failures a caller can act on. Importing
this package lists every one of them in `base.ERRORS`.
"""
from contracts.errors import booking, integration, notifications, payments  # noqa: F401
