"""What the gateway knows of limits: the client's address behind zero, one or several
proxies, and a limit reached answered as 429."""
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.client_ip import TrustedProxies, client_ip
from gateway.errors import status_and_body
from contracts.errors.booking import TooManyHolds

PROXIES = TrustedProxies().build({"GATEWAY": {"trusted_proxies": "10.0.0.0/8, 192.0.2.7"}})


def request_from(peer, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return Request(EnvironBuilder(headers=headers,
                                  environ_base={"REMOTE_ADDR": peer}).get_environ())


@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.5", None, "203.0.113.5"),
    ("203.0.113.5", "1.2.3.4", "203.0.113.5"),             # not a proxy: its header is a lie
    ("192.0.2.7", "198.51.100.9", "198.51.100.9"),
    ("10.1.1.1", "6.6.6.6, 198.51.100.9, 10.2.2.2", "198.51.100.9"),  # past every proxy
    ("10.1.1.1", "10.3.3.3, 10.2.2.2", "10.3.3.3"),        # proxies all the way: the first
    ("10.1.1.1", "198.51.100.9, garbage", "10.1.1.1"),     # a proxy wrote garbage
    ("10.1.1.1", None, "10.1.1.1"),
])
def test_the_client_is_the_first_address_that_is_not_a_trusted_proxy(peer, forwarded, client):
    assert client_ip(request_from(peer, forwarded), PROXIES) == client


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_ip(request_from("10.1.1.1", "198.51.100.9")) == "10.1.1.1"
    assert TrustedProxies().build({"GATEWAY": {"trusted_proxies": ""}}) == ()


def test_too_many_holds_is_429_with_its_code_and_message():
    status, body = status_and_body(TooManyHolds("Pay for one first.", {"limit": 3,
                                                                      "by": ["phone"]}))
    assert status == 429
    assert body == {"error": "too_many_holds", "message": "Pay for one first.",
                    "details": {"limit": 3, "by": ["phone"]}}
