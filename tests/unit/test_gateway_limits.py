"""A limit a service reports is answered as 429 (the client's address: test_client_ip.py)."""
from contracts.errors.booking import TooManyHolds
from gateway.errors import status_and_body


def test_too_many_holds_is_429_with_its_code_and_message():
    status, body = status_and_body(TooManyHolds("Pay for one first.", {"limit": 3,
                                                                      "by": ["phone"]}))
    assert status == 429
    assert body == {"error": "too_many_holds", "message": "Pay for one first.",
                    "details": {"limit": 3, "by": ["phone"]}}
