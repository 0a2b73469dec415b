"""Which device endpoints the operator may contact at all.

Operators are often given a camera network (or, in tests, loopback only); an endpoint
outside it is refused before any packet leaves, and reported on the Camera.

The same networks bound where a device may send camfleet afterwards: service addresses it advertises, stream
URIs and redirects are used only on the endpoint's own host or inside these networks (camfleet.onvif.trust,
reason UntrustedAddress).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from camfleet.onvif.trust import Network as Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def endpoint_refusal(endpoint: str, allowed: Sequence[Network]) -> str | None:
    """None when `endpoint` may be contacted; otherwise why not. No allowed networks means any host."""
    if not allowed:
        return None
    host = urlsplit(endpoint).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # Resolving the name to check it would itself be traffic the policy may forbid.
        return f"endpoint host {host!r} is not an IP address, and device networks are restricted to {_list(allowed)}"
    if any(address in network for network in allowed):
        return None
    return f"endpoint {address} is outside the allowed device networks {_list(allowed)}"


def _list(networks: Sequence[Network]) -> str:
    return ", ".join(str(n) for n in networks)
