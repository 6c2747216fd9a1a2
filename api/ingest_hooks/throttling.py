"""Failed authorizations are counted per publisher IP and in total, so stream keys cannot be guessed.

The check happens before the key is tried: a locked-out address is refused even with a valid key.
"""

from __future__ import annotations

from rest_framework.exceptions import Throttled

from api.core.throttling import FailureCounter

PER_CLIENT_SCOPE = "ingest_authorize"
GLOBAL_SCOPE = "ingest_authorize_global"
_GLOBAL_KEY = "all"


def authorize_attempt_check(*, client_ip: str) -> None:
    """Raise Throttled (429) while this address, or the ingest as a whole, has failed too often."""
    wait = max(
        FailureCounter.from_settings(PER_CLIENT_SCOPE).locked_for(client_ip),
        FailureCounter.from_settings(GLOBAL_SCOPE).locked_for(_GLOBAL_KEY),
    )
    if wait:
        raise Throttled(wait=wait, detail="Too many failed publish attempts; try again later.")


def authorize_failure_record(*, client_ip: str) -> None:
    FailureCounter.from_settings(PER_CLIENT_SCOPE).record_failure(client_ip)
    FailureCounter.from_settings(GLOBAL_SCOPE).record_failure(_GLOBAL_KEY)
