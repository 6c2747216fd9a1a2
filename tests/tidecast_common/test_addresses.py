"""One rule for which client addresses count as one, for every per-address limit."""

from __future__ import annotations

import pytest

from tidecast_common.addresses import address_group


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_address_groups(address: str, group: str) -> None:
    assert address_group(address) == group


def test_every_address_of_one_ipv6_64_is_one_group() -> None:
    assert address_group("2001:db8:1:2::1") == address_group("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")
