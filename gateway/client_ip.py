"""Who is calling: the client's network address, for the limits kept per address."""
import ipaddress

from services.common.config import Config


class TrustedProxies(Config):
    """GATEWAY.trusted_proxies: comma-separated addresses or networks of the proxies in
    front of the gateway whose X-Forwarded-For is believed; empty: none."""

    def build(self, config):
        text = str((config.get("GATEWAY") or {}).get("trusted_proxies") or "")
        return tuple(ipaddress.ip_network(part.strip(), strict=False)
                     for part in text.split(",") if part.strip())


def client_ip(request, trusted_proxies=()):
    """The client's address: the connection's peer, unless that is a trusted proxy; then
    X-Forwarded-For is read from the right, past every trusted proxy, to the first hop
    that is not one (what a client writes there itself is never reached)."""
    address = request.remote_addr
    if not _is_trusted(address, trusted_proxies):
        return address
    hops = request.headers.get("X-Forwarded-For", "").split(",")
    for hop in reversed([hop.strip() for hop in hops if hop.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a proxy wrote garbage: the last good hop is the best we know
        address = hop
        if not _is_trusted(hop, trusted_proxies):
            break
    return address


def _is_trusted(address, trusted_proxies):
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)
