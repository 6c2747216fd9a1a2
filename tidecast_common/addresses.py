"""Which client addresses count as one: the rule behind every per-address limit (failed logins and
publishes in the API, viewer sessions in the HLS server).

IPv4 addresses stand alone; an IPv6 address stands for its /64, the smallest network a subscriber
is usually given, so rotating through one's own /64 gains nothing. An IPv4-mapped IPv6 address
counts as its IPv4 address; anything unparsable as itself.
"""

from __future__ import annotations

import ipaddress

IPV6_GROUP_PREFIX = 64


def address_group(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False))
    return str(parsed)
