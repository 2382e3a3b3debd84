"""Refuse HTTP jobs that would reach the server's own network instead of the public internet.

The check runs on the address the host name resolves to, never on the name as written: the
resolver already turns `0x7f.1`, `2130706433`, `0177.0.0.1` and `127.1` into 127.0.0.1, and a
DNS name may point anywhere. The caller must then connect to the returned address instead of
resolving again, or a second answer (DNS rebinding) could slip past the check.

Internal hosts an administrator trusts are allowed by one rule (`checked_address`) that the web
(when a job or webhook is saved, and for test requests) and the scheduler (every run, every
webhook) both apply: the entries of CRONADMIN_HTTP_ALLOWED_HOSTS and of the AllowedHost table.
A host name entry matches the URL's host as written (`*.corp.example` matches its subdomains);
an address or network entry matches the addresses the host resolves to. Cloud metadata
addresses stay blocked whatever is allowed: they hand out the server's own credentials.
"""

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
# RFC 6761: `localhost` names are loopback and `.invalid` names never exist, whatever a resolver
# says. Answering them here keeps them away from DNS and makes the answer the same everywhere.
LOCALHOST_ADDRESSES = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
# The resolver reads these numeric forms as IPv4 addresses (`127.1`, `0x7f.1`, `2130706433`).
_NUMERIC_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
_ENTRY_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
# An allowed network broader than a /8 would switch the guard off for a large part of the world.
MIN_ALLOWED_PREFIX = 8
MAX_ENTRY_LENGTH = 255

PROBLEMS = {
    "metadata": _("a cloud metadata address"),
    "loopback": _("a loopback address"),
    "unspecified": _("the unspecified address"),
    "link_local": _("a link-local address"),
    "multicast": _("a multicast address"),
    "cgnat": _("a carrier-grade NAT address"),
    "private": _("a private address"),
    "reserved": _("a reserved address"),
    "not_global": _("not a public address"),
}


class AddressError(Exception):
    """The host of an HTTP job cannot be used; the message says why, for the run's reason."""


class BlockedAddress(AddressError):
    def __init__(self, host: str, address: IPAddress, problem: str) -> None:
        self.host = host
        self.address = address
        self.problem = problem
        super().__init__(self.describe())

    def describe(self) -> str:
        values = {"host": self.host, "address": self.address, "problem": PROBLEMS[self.problem]}
        if self.problem == "metadata":
            return (
                gettext(
                    "%(host)s resolves to %(address)s, %(problem)s; such addresses are never "
                    "allowed."
                )
                % values
            )
        return (
            gettext(
                "%(host)s resolves to %(address)s, %(problem)s; HTTP jobs may only call public "
                "addresses unless an administrator allows the host on the Allowed hosts page (or "
                "in CRONADMIN_HTTP_ALLOWED_HOSTS)."
            )
            % values
        )


class UnresolvableHost(AddressError):
    pass


def resolve_public_address(host: str, port: int) -> IPAddress:
    """Resolve `host` once and return an address safe to connect to, or raise AddressError."""
    return checked_address(host, resolve(host, port))


def checked_address(host: str, addresses: list[IPAddress]) -> IPAddress:
    """The address to connect to among `addresses` (what `host` resolved to), or BlockedAddress.

    One bad answer is enough: a name that mixes public and internal addresses is either
    misconfigured or an attempt to get lucky. The allow-list is read only when an answer is
    internal, so public targets never pay for it, and it is read afresh each time, so a change on
    the Allowed hosts page applies to the very next request of any process.
    """
    blocked = [(address, problem) for address in addresses if (problem := blocked_problem(address))]
    if not blocked:
        return addresses[0]
    for address, problem in blocked:
        if problem == "metadata":
            raise BlockedAddress(host, address, problem)
    # The setting first: when it allows the target, no query is made.
    configured = _setting_allow_list(tuple(settings.CRONADMIN_HTTP_ALLOWED_HOSTS))
    if configured.allows(host, [address for address, _problem in blocked]):
        return addresses[0]
    allowed = configured + stored_allow_list()
    if allowed.allows_name(host):
        return addresses[0]
    for address, problem in blocked:
        if not allowed.allows_address(address):
            raise BlockedAddress(host, address, problem)
    return addresses[0]


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` must not be called, or None for a public address."""
    problem = blocked_problem(address)
    return str(PROBLEMS[problem]) if problem else None


def blocked_problem(address: IPAddress) -> str | None:
    """The code (a key of PROBLEMS) of why `address` must not be called by default, or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return blocked_problem(embedded)
    if address in CLOUD_METADATA:
        return "metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.version == 4 and address in CGNAT:
        return "cgnat"
    if any(address in network for network in PRIVATE_NETWORKS):
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        # Documentation, benchmarking and other special-purpose ranges the named checks missed.
        return "not_global"
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


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for, without checking them; UnresolvableHost if none."""
    name = _normalise_host(host)
    known = fixed_addresses(name)
    if known is not None:
        return known
    try:
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
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


def fixed_addresses(host: str) -> list[IPAddress] | None:
    """The addresses of a host known without asking any resolver, or None for a DNS name.

    IP literals in every form the resolver accepts, `localhost` names (loopback) and `.invalid`
    names (UnresolvableHost).
    """
    name = _normalise_host(host)
    try:
        return [ipaddress.ip_address(name.split("%", 1)[0])]
    except ValueError:
        pass
    if _NUMERIC_IPV4.match(name):
        try:
            return [ipaddress.IPv4Address(socket.inet_aton(name))]
        except OSError:
            raise UnresolvableHost(f"Cannot resolve {host}: not a valid address.") from None
    if name == "localhost" or name.endswith(".localhost"):
        return list(LOCALHOST_ADDRESSES)
    if name == "invalid" or name.endswith(".invalid"):
        raise UnresolvableHost(f"Cannot resolve {host}: .invalid names never exist.")
    return None


def _normalise_host(host: str) -> str:
    # URLs write IPv6 literals in brackets and may end a name with the root dot.
    return host.strip().strip("[]").rstrip(".").lower()


# --- the allow-list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str] = frozenset()
    # Suffixes of `*.` entries, with their leading dot: ".corp.example".
    domains: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> "AllowList":
        names: set[str] = set()
        domains: list[str] = []
        networks: list[IPNetwork] = []
        for entry in entries:
            value = _normalise_host(entry)
            network = _as_network(value)
            if network is not None:
                networks.append(network)
            elif value.startswith("*."):
                domains.append(value[1:])
            elif value:
                names.add(value)
        return cls(frozenset(names), tuple(domains), tuple(networks))

    def __add__(self, other: "AllowList") -> "AllowList":
        return AllowList(
            self.names | other.names, self.domains + other.domains, self.networks + other.networks
        )

    def allows_name(self, host: str) -> bool:
        name = _normalise_host(host)
        return name in self.names or any(name.endswith(domain) for domain in self.domains)

    def allows(self, host: str, addresses: list[IPAddress]) -> bool:
        return self.allows_name(host) or all(self.allows_address(a) for a in addresses)

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address]
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
        return any(
            candidate in network
            for candidate in candidates
            for network in self.networks
            if network.version == candidate.version
        )


def stored_allow_list() -> AllowList:
    """The Allowed hosts page's entries, as they are now: one query of a small table."""
    from jobs.models import AllowedHost

    try:
        stored = list(AllowedHost.objects.values_list("host", flat=True))
    except DatabaseError:
        # Fail closed: without the list nothing internal is allowed, and the run says why.
        stored = []
    return _stored_allow_list(tuple(stored))


@lru_cache(maxsize=8)
def _stored_allow_list(entries: tuple[str, ...]) -> AllowList:
    # Parsing is most of the cost once the rows are read; the rows themselves are read each time.
    return AllowList.of(entries)


@lru_cache(maxsize=8)
def _setting_allow_list(entries: tuple[str, ...]) -> AllowList:
    # The setting's entries obey the page's rules; one that does not (a network broader than a
    # /8, a metadata address) is left out, and `manage.py check` says so (jobs.checks).
    return AllowList.of(entry for entry, problem in setting_entries(entries) if problem is None)


def setting_entries(entries: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each entry of CRONADMIN_HTTP_ALLOWED_HOSTS in its normal form, or as written with why
    it is not used."""
    checked: list[tuple[str, str | None]] = []
    for entry in entries:
        try:
            checked.append((clean_allowed_entry(entry), None))
        except ValidationError as exc:
            checked.append((entry, " ".join(exc.messages)))
    return checked


def _as_network(value: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def clean_allowed_entry(text: object) -> str:
    """An entry for the Allowed hosts page in its normal form, or a ValidationError.

    `billing.internal`, `*.corp.example`, `10.1.2.3`, `10.1.0.0/16`, `fd00:1::/64`.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("Enter a host name or a network."), code="required")
    value = _normalise_host(text)
    if len(value) > MAX_ENTRY_LENGTH:
        raise ValidationError(
            _("Keep it under %(n)d characters.") % {"n": MAX_ENTRY_LENGTH}, code="too_long"
        )
    looks_numeric = "/" in value or ":" in value or bool(_NUMERIC_IPV4.match(value))
    network = _as_network(value)
    if network is None and looks_numeric:
        raise ValidationError(
            _("This is not a valid address or network; write a network as 10.1.0.0/16."),
            code="invalid_network",
        )
    if network is not None:
        return _clean_network(network)
    wildcard = value.startswith("*.")
    name = value[2:] if wildcard else value
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    if not _ENTRY_NAME.match(name):
        raise ValidationError(
            _("This is not a valid host name; write it as billing.internal or *.corp.example."),
            code="invalid_host",
        )
    return f"*.{name}" if wildcard else name


def _clean_network(network: IPNetwork) -> str:
    if network.prefixlen < MIN_ALLOWED_PREFIX:
        raise ValidationError(
            _("A network can be at most a /%(n)d; allow the internal networks you need.")
            % {"n": MIN_ALLOWED_PREFIX},
            code="too_broad",
        )
    if network.num_addresses == 1:
        address = network.network_address
        if blocked_problem(address) == "metadata":
            raise ValidationError(
                _("Cloud metadata addresses cannot be allowed."), code="metadata_address"
            )
        return str(address)
    return str(network)


# --- checking a target when it is saved ----------------------------------------------------------


def check_target(url: str) -> None:
    """Refuse, with a message for the form field, a URL the guard would block at run time.

    IP literals and `localhost` names are judged exactly as a run would. A DNS name is resolved
    within CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS (0: not at all); a name that does not resolve in
    time is accepted, because the web server may not see the DNS the scheduler sees, and every
    run checks again anyway.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = fixed_addresses(host)
        if addresses is None:
            addresses = _resolve_within(host, port, settings.CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS)
        if addresses is None:
            return
        checked_address(host, addresses)
    except UnresolvableHost:
        return
    except BlockedAddress as exc:
        raise ValidationError(target_message(exc), code="blocked_address") from None


def target_message(exc: BlockedAddress) -> str:
    """What an operator reads at a refused URL: what the host is and who can allow it."""
    values = {"host": exc.host, "address": exc.address, "problem": PROBLEMS[exc.problem]}
    if exc.problem == "metadata":
        return (
            gettext(
                "%(host)s is %(problem)s (%(address)s). It can never be called, to keep the "
                "server's own credentials safe."
            )
            % values
        )
    if _normalise_host(exc.host) == str(exc.address):
        return (
            gettext(
                "%(host)s is %(problem)s. HTTP jobs and webhooks may only call public addresses; "
                "an administrator can allow this host on the Allowed hosts page."
            )
            % values
        )
    return (
        gettext(
            "%(host)s resolves to %(address)s, %(problem)s. HTTP jobs and webhooks may only call "
            "public addresses; an administrator can allow this host on the Allowed hosts page."
        )
        % values
    )


# Save-time answers, kept briefly: an import or an executor registration saves many jobs calling
# one host, and a resolver that hangs must cost its budget once, not once per job. Runs never
# use these: they resolve afresh.
SAVE_ANSWER_SECONDS = 30.0
_SAVE_ANSWERS_MAX = 256
_save_answers: dict[tuple[str, int], tuple[float, list[IPAddress] | None]] = {}
_save_answers_lock = threading.Lock()


def _resolve_within(host: str, port: int, seconds: float) -> list[IPAddress] | None:
    if seconds <= 0:
        return None
    key = (_normalise_host(host), port)
    now = time.monotonic()
    with _save_answers_lock:
        kept = _save_answers.get(key)
    if kept is not None and now - kept[0] < SAVE_ANSWER_SECONDS:
        return kept[1]
    answer = _lookup_within(host, port, seconds)
    with _save_answers_lock:
        if len(_save_answers) >= _SAVE_ANSWERS_MAX:
            _save_answers.clear()
        _save_answers[key] = (now, answer)
    return answer


def _lookup_within(host: str, port: int, seconds: float) -> list[IPAddress] | None:
    # getaddrinfo cannot be interrupted: past the budget the answer is abandoned, not awaited.
    answer: list[list[IPAddress]] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.append(resolve(host, port))
        except AddressError:
            pass
        finally:
            done.set()

    threading.Thread(target=lookup, daemon=True, name="save-check-resolve").start()
    done.wait(seconds)
    return answer[0] if answer else None
