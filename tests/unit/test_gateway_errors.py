"""The one table from exception to HTTP answer: what the gateway says when a service fails."""
from nameko.exceptions import RemoteError

from gateway.errors import RateLimited, status_and_body


def test_a_services_database_out_of_reach_is_503_and_says_nothing_of_it():
    status, body = status_and_body(
        RemoteError("OperationalError", "FATAL:  sorry, too many clients already"))
    assert status == 503 and body["error"] == "service_unavailable"
    assert "clients" not in body["message"]


def test_any_other_unexpected_error_of_a_service_is_500_without_its_text():
    status, body = status_and_body(RemoteError("KeyError", "'hall_id'"))
    assert status == 500 and body == {"error": "internal_error", "details": {},
                                      "message": "Something went wrong on our side."}


def test_a_rate_limit_is_429():
    status, body = status_and_body(RateLimited("Too many requests.", {"limit": 5}))
    assert status == 429 and body["error"] == "rate_limited" and body["details"] == {"limit": 5}
