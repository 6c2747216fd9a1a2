"""The rate parser, the client address and the failure counter, without HTTP."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings

from api.core import throttling
from api.core.throttling import FailureCounter, client_ip, parse_rate


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("5/5m", (5, 300)),
        ("20/min", (20, 60)),
        ("20/hour", (20, 3600)),
        ("3/10s", (3, 10)),
        ("100/day", (100, 86400)),
        (" 7 / 2h ", (7, 7200)),
    ],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["", "5", "five/min", "5/5", "5/5y", "/m"])
def test_parse_rate_refuses_unreadable_rates(rate):
    with pytest.raises(ValueError, match="Unreadable rate"):
        parse_rate(rate)


def test_client_ip_ignores_forwarded_for_without_trusted_proxies():
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.0.0.1")

    assert client_ip(request) == "192.0.2.1"


def test_client_ip_takes_the_address_the_trusted_proxy_saw():
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.6.6.6, 192.0.2.44")

    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        assert client_ip(request) == "192.0.2.44"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Moves time for the counter and for the cache's expiry alike."""
    fake = FakeClock()
    monkeypatch.setattr(throttling.time, "time", fake)
    return fake


@pytest.fixture
def counter():
    return FailureCounter(scope="test", limit=3, window_seconds=60)


def test_counter_locks_after_the_limit(counter, clock):
    for _ in range(2):
        counter.record_failure("alice")
    assert counter.locked_for("alice") == 0

    counter.record_failure("alice")

    assert counter.locked_for("alice") == 60
    assert counter.locked_for("bob") == 0


def test_counter_lock_ends_with_the_window_opened_by_the_first_failure(counter, clock):
    counter.record_failure("alice")
    clock.now += 40
    counter.record_failure("alice")
    counter.record_failure("alice")

    assert counter.locked_for("alice") == 20
    clock.now += 20
    assert counter.locked_for("alice") == 0


def test_counter_reset_forgets_the_failures(counter, clock):
    for _ in range(3):
        counter.record_failure("alice")

    counter.reset("alice")

    assert counter.locked_for("alice") == 0


def test_counter_accepts_any_text_as_key(counter, clock):
    key = "名前 with spaces and a very long tail " * 20
    for _ in range(3):
        counter.record_failure(key)

    assert counter.locked_for(key) > 0


def test_counter_reads_its_rate_from_the_settings():
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_failures": "7/2m"}

    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        counter = FailureCounter.from_settings("login_failures")

    assert (counter.limit, counter.window_seconds) == (7, 120)
