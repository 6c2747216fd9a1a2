"""SSRF: webhook targets are resolved at send time and refused when any address is not public."""

from __future__ import annotations

import ipaddress

import pytest

from api.webhooks.targets import TargetRefused, address_refusal, webhook_target_resolve, webhook_url_check


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_private_targets_may_be_allowed_but_never_the_metadata_service():
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.5"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True) is not None
    assert address_refusal(ipaddress.ip_address("::ffff:169.254.169.254"), allow_private=True) is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://localhost:8080/hook", "loopback"),  # a name resolving to loopback
        ("http://LOCALHOST./hook", "loopback"),
        ("http://0x7f000001/hook", "loopback"),  # inet_aton spellings, read by getaddrinfo
        ("http://2130706433/hook", "loopback"),
        ("http://127.1/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ],
)
def test_targets_are_refused_at_resolution(url, reason):
    with pytest.raises(TargetRefused, match=reason):
        webhook_target_resolve(url, allow_private=False, timeout=2)


def test_the_checked_address_is_the_one_returned_for_connecting():
    target = webhook_target_resolve("http://localhost:8080/x", allow_private=True, timeout=2)
    assert target.address.is_loopback
    assert target.host == "localhost"
    assert target.port == 8080


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http:///nohost",
        "gopher://x",
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(url):
    with pytest.raises(TargetRefused):
        webhook_url_check(url)


def test_an_unresolvable_name_is_refused():
    with pytest.raises(TargetRefused, match="does not resolve"):
        webhook_target_resolve("http://no-such-host.invalid/x", allow_private=False, timeout=2)
