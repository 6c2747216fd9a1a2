"""The one error type of the domain; api.core.exceptions maps it to HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class DomainError(Exception):
    """A rule of the domain was broken by the caller's input. Mapped to a 4xx response."""

    status_code = 400
    code = "invalid"
    # Members the error body carries beside "detail" and "code" (the ingest reads "allow").
    body_extra: ClassVar[Mapping[str, object]] = {}
    # Seconds until a retry may succeed: sent as Retry-After.
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class TooManyRequests(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
