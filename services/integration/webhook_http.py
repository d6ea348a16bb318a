"""Sending one webhook: resolve the host, refuse addresses webhooks must not reach (SSRF),
connect to the very address that was checked (a second DNS answer cannot slip in), follow no
redirect, keep to short timeouts and read at most a capped part of the answer."""
import ipaddress
import socket
from urllib.parse import urlsplit

import urllib3

from services.integration.webhook_rules import AddressRefused, Answer, check_address

USER_AGENT = "studio-booking-webhooks/1.0"


def resolve_host(host, port):
    """Every address the host name stands for (a literal address: itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0])
                              for info in infos))


def post(url, body, headers, settings, resolve=resolve_host):
    """POST `body` (text) to `url`; returns an Answer, never raises for the receiver's sake."""
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
        if not addresses:
            raise OSError("no address")
        for address in addresses:
            check_address(address, settings)
    except AddressRefused as exc:
        return Answer(None, error=f"refused, not sent: {exc}")
    except (OSError, UnicodeError) as exc:
        return Answer(None, error=f"cannot resolve {host}: {exc}")

    timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.timeout,
                              total=settings.timeout)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(str(addresses[0]), port, timeout=timeout,
                                           server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED", maxsize=1)
    else:
        pool = urllib3.HTTPConnectionPool(str(addresses[0]), port, timeout=timeout,
                                          maxsize=1)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    try:
        response = pool.urlopen("POST", path, body=body.encode(), redirect=False,
                                retries=False, preload_content=False,
                                headers={**headers, "host": host_header,
                                         "user-agent": USER_AGENT})
        try:
            text = response.read(settings.max_response_bytes, decode_content=False)
        finally:
            response.release_conn()
        return Answer(response.status,
                      excerpt=text.decode("utf-8", "replace")[:settings.excerpt_chars])
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:settings.excerpt_chars])
    finally:
        pool.close()
