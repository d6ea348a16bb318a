"""The client's IP: X-Forwarded-For is believed only as far as our own proxies wrote it."""
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.client_ip import client_ip


def request_from(peer, forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return Request(EnvironBuilder(headers=headers,
                                  environ_base={"REMOTE_ADDR": peer}).get_environ())


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says():
    assert client_ip(request_from("198.51.100.4", "203.0.113.9"), "") == "198.51.100.4"


def test_a_request_from_an_untrusted_peer_cannot_choose_its_address():
    request = request_from("198.51.100.4", "203.0.113.9")
    assert client_ip(request, "10.0.0.0/8") == "198.51.100.4"


def test_behind_our_proxy_the_client_is_the_address_it_added():
    assert client_ip(request_from("10.0.0.2", "203.0.113.9"), "10.0.0.0/8") == "203.0.113.9"


def test_addresses_the_client_wrote_left_of_our_proxies_are_not_believed():
    request = request_from("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.7")
    assert client_ip(request, "10.0.0.0/8, 127.0.0.1") == "203.0.113.9"


def test_garbage_in_the_header_stops_at_the_last_proxy_we_trust():
    request = request_from("10.0.0.2", "203.0.113.9, not-an-ip")
    assert client_ip(request, ["10.0.0.0/8"]) == "10.0.0.2"


def test_ipv6_proxies_and_clients():
    request = request_from("fd00::1", "2001:db8::5")
    assert client_ip(request, "fd00::/8") == "2001:db8::5"
