"""Which addresses a device may send camfleet to.

A camera is untrusted input. The addresses it advertises (GetServices / GetCapabilities XAddrs), the stream URIs it
returns (GetStreamUri) and any HTTP redirect it answers with would otherwise decide where the operator sends its
signed WS-UsernameToken, its digest answers and (through the recorder) the RTSP password. So an address is used
only when its host is the configured endpoint's own host, or an IP address inside the operator's device networks
(`--device-network`); with `require_tls`, only `https` (ONVIF) and `rtsps` (streams) are accepted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SOAP_SCHEMES = ("https", "http")  # secure first
STREAM_SCHEMES = ("rtsps", "rtsp")


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@dataclass(frozen=True)
class AddressPolicy:
    """Where credentials may go for one camera: its endpoint's host, or inside `networks`."""

    endpoint: str
    networks: tuple[Network, ...] = ()
    require_tls: bool = False

    @classmethod
    def for_endpoint(cls, endpoint: str, networks: Sequence[Network] = (), require_tls: bool = False) -> AddressPolicy:
        return cls(endpoint, tuple(networks), require_tls)

    @property
    def endpoint_host(self) -> str:
        return host_of(self.endpoint)

    def _inside_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name would have to be resolved first, and the device may control the resolver
        return any(address in network for network in self.networks)

    def refusal(self, address: str, schemes: tuple[str, str] = SOAP_SCHEMES) -> str | None:
        """None when credentials may be sent to `address`; otherwise why not (naming the address)."""
        secure, plain = schemes
        scheme = urlsplit(address).scheme.lower()
        if scheme not in schemes:
            return f"address {address!r} is not {secure}:// or {plain}://"
        if self.require_tls and scheme != secure:
            return f"address {address!r} is not {secure}:// and the camera requires TLS"
        host = host_of(address)
        if host and (host == self.endpoint_host or self._inside_networks(host)):
            return None
        allowed = ", ".join([self.endpoint_host, *(str(network) for network in self.networks)])
        return f"address {address!r} is outside the camera's host and device networks ({allowed})"

    def endpoint_refusal(self) -> str | None:
        """Only the TLS requirement applies to the endpoint itself (its network is checked before any pass)."""
        if self.require_tls and urlsplit(self.endpoint).scheme.lower() != "https":
            return f"endpoint {self.endpoint!r} is not https:// and the camera requires TLS"
        return None
