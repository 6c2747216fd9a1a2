"""What can go wrong when signing in; api.core.exceptions turns these into JSON 4xx responses."""

from __future__ import annotations

from api.core.errors import DomainError, TooManyRequests


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self) -> None:
        # One message for an unknown user, a wrong password and an inactive account alike.
        super().__init__("The username or password is incorrect.")


class InvalidRefreshToken(DomainError):
    status_code = 401
    code = "token_not_valid"

    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or already used.")


class TooManyAttempts(TooManyRequests):
    def __init__(self, *, retry_after: int) -> None:
        super().__init__("Too many failed sign-in attempts.", retry_after=retry_after)
