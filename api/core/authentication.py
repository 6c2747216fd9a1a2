"""JWT from the Authorization header, or from the access_token cookie with CSRF enforced.

simplejwt verifies the signature with the pinned algorithm only (SIMPLE_JWT["ALGORITHM"]), so
alg=none and tokens signed with another key or algorithm are refused; expired tokens, refresh
tokens used as access tokens, unknown and inactive users are refused too. Every refusal is a 401
because `authenticate_header` (inherited) names the Bearer scheme.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from drf_spectacular.drainage import set_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def _dummy_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


def enforce_csrf(request: Request) -> None:
    """Django's CSRF check (token + origin) for a request authenticated by a cookie."""
    check = _CSRFCheck(_dummy_view)
    check.process_request(request._request)
    reason = check.process_view(request._request, _dummy_view, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF failed: {reason}")


class JWTHeaderOrCookieAuthentication(JWTAuthentication):
    """Header-authenticated requests need no CSRF token; cookie-authenticated unsafe ones do."""

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        header = self.get_header(request)
        if header is not None:
            return super().authenticate(request)
        raw_token = request.COOKIES.get(settings.JWT_COOKIE_ACCESS)
        if not raw_token:
            return None
        validated = self.get_validated_token(raw_token.encode())
        user = self.get_user(validated)
        enforce_csrf(request)
        return user, validated


class JWTHeaderOrCookieScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """OpenAPI: either the Bearer header or the access_token cookie (any one of them)."""

    target_class = JWTHeaderOrCookieAuthentication
    match_subclasses = True  # OptionalJWTAuthentication too (spectacular adds the anonymous {})
    name = ["jwtAuth", "jwtCookieAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"jwtAuth": []}, {"jwtCookieAuth": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            build_bearer_security_scheme_object(
                header_name="HTTP_AUTHORIZATION",
                token_prefix=jwt_settings.AUTH_HEADER_TYPES[0],
                bearer_format="JWT",
            ),
            {"type": "apiKey", "in": "cookie", "name": settings.JWT_COOKIE_ACCESS},
        ]


class OptionalJWTAuthentication(JWTHeaderOrCookieAuthentication):
    """For reads and requests open to anyone that answer more to a signed-in user (a private
    video to its owner): a stale or invalid token, or a cookie without its CSRF token, makes the
    request anonymous instead of a 401/403, so it is never refused what anyone gets."""

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        try:
            return super().authenticate(request)
        except (exceptions.AuthenticationFailed, exceptions.PermissionDenied):
            return None

    def authenticate_header(self, request: Request) -> str:
        return ""


# OpenAPI: the same two schemes as JWTHeaderOrCookieAuthentication (its extension matches
# subclasses), each also optional; the same components under the same names, on purpose.
set_override(OptionalJWTAuthentication, "suppress_collision_warning", True)


def user_from_access_cookie(request: HttpRequest) -> Any | None:
    """The user a page request's access_token cookie names, or None (no cookie, expired, invalid).
    For safe requests of the server-rendered pages, which answer more to a signed-in owner."""
    raw_token = request.COOKIES.get(settings.JWT_COOKIE_ACCESS)
    if not raw_token:
        return None
    authentication = JWTAuthentication()
    try:
        validated = authentication.get_validated_token(raw_token.encode())
        return authentication.get_user(validated)
    except (exceptions.AuthenticationFailed, InvalidToken, TokenError):
        return None
