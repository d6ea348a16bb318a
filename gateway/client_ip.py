"""Who is on the other end: the client's IP address, behind our own proxies or not."""
import functools
import ipaddress


@functools.lru_cache(maxsize=32)
def trusted_networks(trusted_proxies):
    """`TRUSTED_PROXIES` ("10.0.0.0/8, 172.17.0.1", or empty) as a tuple of networks."""
    if not isinstance(trusted_proxies, str):
        return tuple(ipaddress.ip_network(str(item), strict=False) for item in trusted_proxies)
    return tuple(ipaddress.ip_network(item.strip(), strict=False)
                 for item in trusted_proxies.split(",") if item.strip())


def _address(text):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request, trusted_proxies):
    """The client's IP address as a string. The peer's address, unless the peer is one of
    `trusted_proxies` (a comma-separated string or a list of networks): then X-Forwarded-For
    is read from the right, skipping our own proxies, and the first address no proxy of ours
    added is the client. Anything left of that was written by the client and is not believed;
    without trusted proxies X-Forwarded-For is ignored entirely (anyone can send it)."""
    networks = trusted_networks(trusted_proxies if isinstance(trusted_proxies, str)
                                else tuple(trusted_proxies))
    peer = request.remote_addr or ""

    def trusted(address):
        return address is not None and any(address in network for network in networks)

    nearest = _address(peer)
    if not trusted(nearest):
        return peer
    hops = ",".join(request.headers.getlist("X-Forwarded-For")).split(",")
    for hop in reversed([h for h in hops if h.strip()]):
        address = _address(hop)
        if address is None:  # garbage from the client: the last proxy is all we know
            break
        nearest = address
        if not trusted(address):
            break
    return str(nearest)
