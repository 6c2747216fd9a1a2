"""Rate limits: request throttles for DRF views, and failure counters for guessed credentials."""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "5/5m" -> (5, 300); "20/hour" -> (20, 3600). DRF alone reads "5/5m" as five per minute."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"Unreadable rate {rate!r}: expected e.g. '5/5m' or '20/hour'.")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNIT_SECONDS[unit]


def configured_rate(scope: str) -> tuple[int, int]:
    """The rate of `scope` in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], read at call time."""
    return parse_rate(str(api_settings.DEFAULT_THROTTLE_RATES[scope]))


def client_ip(request: HttpRequest | Request) -> str:
    """The peer address. X-Forwarded-For is trusted only when NUM_PROXIES says proxies are in front."""
    if api_settings.NUM_PROXIES:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= api_settings.NUM_PROXIES:
            return str(forwarded[-api_settings.NUM_PROXIES])
    return str(request.META.get("REMOTE_ADDR") or "unknown")


# IPv6 hands each subscriber a /64 (or more): counting single addresses there would let one
# client take a fresh address for every attempt.
class ClientIPRateThrottle(SimpleRateThrottle):
    """A per-client-IP request throttle whose rate (with multipliers) is read from the settings."""

    scope: str

    def get_rate(self) -> str:
        return str(api_settings.DEFAULT_THROTTLE_RATES[self.scope])

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        return (None, None) if rate is None else parse_rate(rate)

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class SignupRateThrottle(ClientIPRateThrottle):
    scope = "signup"


@dataclass(frozen=True)
class FailureCounter:
    """Counts failures per key in the cache, within a window that opens at the first failure.

    While `limit` failures are on record the key is locked: callers check `locked_for()` BEFORE
    trying the credential, so a correct guess during a lockout is refused like any other.
    """

    scope: str
    limit: int
    window_seconds: int

    @classmethod
    def from_settings(cls, scope: str) -> FailureCounter:
        limit, window = configured_rate(scope)
        return cls(scope=scope, limit=limit, window_seconds=window)

    def locked_for(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not locked."""
        if self.failures(key) < self.limit:
            return 0
        opened_at = cache.get(self._keys(key)[1])
        if opened_at is None:
            return self.window_seconds
        return max(1, math.ceil(float(opened_at) + self.window_seconds - time.time()))

    def failures(self, key: str) -> int:
        """Failures of `key` in its current window."""
        return int(cache.get(self._keys(key)[0], 0))

    def record_failure(self, key: str) -> int:
        """Count one failure; returns the failures of `key` in its window, this one included."""
        count_key, opened_key = self._keys(key)
        if cache.add(count_key, 1, timeout=self.window_seconds):
            cache.set(opened_key, time.time(), timeout=self.window_seconds)
            return 1
        try:
            return int(cache.incr(count_key))
        except ValueError:  # expired between add() and incr(): a fresh window
            cache.add(count_key, 1, timeout=self.window_seconds)
            cache.set(opened_key, time.time(), timeout=self.window_seconds)
            return 1

    def reset(self, key: str) -> None:
        cache.delete_many(list(self._keys(key)))

    def _keys(self, key: str) -> tuple[str, str]:
        # Hashed so any username is a safe cache key (memcached refuses spaces and long keys).
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"failures:{self.scope}:{digest}", f"failures:{self.scope}:{digest}:opened"


@dataclass(frozen=True)
class SignInGuard:
    """The failure counting every password form shares (the API's login and the admin's).

    Failures count per username and per client address; while either is locked the attempt must be
    refused before the password is checked, so a lockout cannot be used as an oracle.
    """

    username: str
    client_ip: str

    def _counters(self) -> list[tuple[FailureCounter, str]]:
        return [
            (
                FailureCounter.from_settings("login_failures"),
                AbstractBaseUser.normalize_username(self.username).casefold(),
            ),
            (FailureCounter.from_settings("login_failures_ip"), self.client_ip),
        ]

    def locked_for(self) -> int:
        """Seconds until this username and address may try again; 0 when neither is locked."""
        return max(counter.locked_for(key) for counter, key in self._counters())

    def record_failure(self) -> None:
        for counter, key in self._counters():
            counter.record_failure(key)

    def record_success(self) -> None:
        """The username's count starts again; the address's stays (it may be guessing many names)."""
        by_username, username_key = self._counters()[0]
        by_username.reset(username_key)
