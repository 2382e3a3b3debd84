"""Refuse HTTP jobs that would reach the server's own network instead of the public internet.

The check runs on the address the host name resolves to, never on the name as written: the
resolver already turns `0x7f.1`, `2130706433`, `0177.0.0.1` and `127.1` into 127.0.0.1, and a
DNS name may point anywhere. The caller must then connect to the returned address instead of
resolving again, or a second answer (DNS rebinding) could slip past the check.
"""

import ipaddress
import socket

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# RFC 1918 and IPv6 unique-local; ipaddress's is_private also covers documentation and reserved
# ranges, which get their own, clearer reasons.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (IPv4-compatible, NAT64).
_EMBEDDED_IPV4_PREFIXES = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class AddressError(Exception):
    """The host of an HTTP job cannot be used; the message says why, for the run's reason."""


class BlockedAddress(AddressError):
    pass


class UnresolvableHost(AddressError):
    pass


def resolve_public_address(host: str, port: int) -> IPAddress:
    """Resolve `host` once and return an address safe to connect to, or raise AddressError."""
    addresses = _resolve(host, port)
    if is_allowed_host(host):
        return addresses[0]
    for address in addresses:
        problem = blocked_reason(address)
        if problem:
            # One bad answer is enough: a name that mixes public and internal addresses is
            # either misconfigured or an attempt to get lucky.
            raise BlockedAddress(
                f"{host} resolves to {address}, {problem}; HTTP jobs may only call public "
                "addresses unless the host is listed in CRONADMIN_HTTP_ALLOWED_HOSTS."
            )
    return addresses[0]


def is_allowed_host(host: str) -> bool:
    allowed = {_normalise_host(name) for name in settings.CRONADMIN_HTTP_ALLOWED_HOSTS}
    return _normalise_host(host) in allowed


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` must not be called, or None for a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return blocked_reason(embedded)
    if address in CLOUD_METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.version == 4 and address in CGNAT:
        return "a carrier-grade NAT address"
    if any(address in network for network in PRIVATE_NETWORKS):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        # Documentation, benchmarking and other special-purpose ranges the named checks missed.
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    # :: and ::1 sit inside ::/96 but are IPv6's own unspecified and loopback addresses.
    if address in _EMBEDDED_IPV4_PREFIXES[0] and int(address) <= 1:
        return None
    for prefix in _EMBEDDED_IPV4_PREFIXES:
        if address in prefix:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        answers = socket.getaddrinfo(
            _normalise_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"Cannot resolve {host}: {exc}.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(f"Cannot resolve {host}: no address.")
    return addresses


def _normalise_host(host: str) -> str:
    # URLs write IPv6 literals in brackets and may end a name with the root dot.
    return host.strip().strip("[]").rstrip(".").lower()
