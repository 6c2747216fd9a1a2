"""One HTTP attempt at a webhook: POST the body to the checked address, and keep what came back.

httpx connects to `target.address` (the one that was checked), sends the original Host header and,
for https, the original name as TLS SNI and for certificate verification. No redirect is followed
(a 3xx is a failed attempt), no proxy from the environment is used, every phase has the timeout,
and at most EXCERPT_READ_BYTES of the answer are read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from api.webhooks.models import ERROR_MAX_LENGTH, EXCERPT_MAX_LENGTH
from api.webhooks.targets import SCHEMES, Target

EXCERPT_READ_BYTES = 1024
USER_AGENT = "Tidecast-Webhooks/1"


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    error: str
    response_excerpt: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == SCHEMES[target.scheme] else f"{host}:{target.port}"


def _read_excerpt(response: httpx.Response) -> str:
    received = b""
    for chunk in response.iter_raw(EXCERPT_READ_BYTES):
        received += chunk
        if len(received) >= EXCERPT_READ_BYTES:
            break
    return received[:EXCERPT_READ_BYTES].decode("utf-8", errors="replace")[:EXCERPT_MAX_LENGTH]


def webhook_post(*, target: Target, headers: dict[str, str], body: bytes, timeout: float) -> AttemptOutcome:
    url = httpx.URL(target.url).copy_with(host=str(target.address))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    started = time.monotonic()
    status_code: int | None = None
    excerpt = ""
    error = ""
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST",
                url,
                content=body,
                headers={**headers, "host": _host_header(target), "user-agent": USER_AGENT},
                extensions=extensions,
            ) as response,
        ):
            status_code = response.status_code
            excerpt = _read_excerpt(response)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
    except httpx.TimeoutException:
        if status_code is None:  # a slow body after the status line does not undo the answer
            error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        if status_code is None:
            error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return AttemptOutcome(
        status_code=status_code,
        error=error[:ERROR_MAX_LENGTH],
        response_excerpt=excerpt,
        duration_ms=duration_ms,
    )
