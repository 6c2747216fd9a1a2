"""Where a webhook may be sent: the URL rules, and the address check made at every send.

The target is resolved when it is sent to, and every address the name resolves to must be public
(unless WEBHOOK_ALLOW_PRIVATE_TARGETS): no loopback, private, link-local, shared (CGNAT),
multicast, reserved or unspecified address, nor one hidden in an IPv4-mapped, 6to4, Teredo or NAT64
IPv6 address. The caller then connects to the address that was checked (the name is not resolved a
second time), so a DNS answer that changes between check and connect cannot slip one in. Cloud
metadata addresses are refused even when private targets are allowed.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
# What the API accepts as a new webhook's URL (ECMA-262 and Python alike, for the schema too): http
# or https, a host name or IPv4 address (no user name or password, no IPv6 literal), an optional
# port from 1 to 65535, then printable ASCII.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
WEBHOOK_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_LABEL}(?:\.{_LABEL})*\.?(?::{_PORT})?(?:[/?#][!-~]*)?$"
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(ValueError):
    """The URL or the address it resolves to may not be sent to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host name (for the Host header and TLS), and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


def webhook_url_check(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable webhook URL, else TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("The URL cannot be read.") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused("A webhook URL starts with https:// or http://.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("A webhook URL may not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("A webhook URL needs a host.")
    return scheme, host, port or SCHEMES[scheme]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be sent to, or None when it may."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded, allow_private=allow_private)
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    # getaddrinfo has no timeout of its own: it runs in a thread that is abandoned if too slow.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError as exc:
        raise TargetRefused(f"Resolving {host} took longer than {timeout:g} s.") from exc
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve.") from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    # Scope ids ("fe80::1%eth0") are dropped: such an address is link-local and refused anyway.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(addresses))


def webhook_target_resolve(url: str, *, allow_private: bool, timeout: float) -> Target:
    """Resolve `url`'s host now; every address must pass, the first is the one to connect to."""
    scheme, host, port = webhook_url_check(url)
    addresses = _resolve(host, port, timeout)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve.")
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason is not None:
            raise TargetRefused(f"{host} resolves to {reason} ({address}); webhooks are not sent there.")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
