"""JWT from the Authorization header, or from the access_token cookie with CSRF enforced."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _dummy_view(request: HttpRequest) -> None:  # pragma: no cover - never called
    return None


class JWTHeaderOrCookieAuthentication(JWTAuthentication):
    """Header-authenticated requests need no CSRF token; cookie-authenticated unsafe ones do."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:  # type: ignore[override]
        header = self.get_header(request)
        if header is not None:
            return super().authenticate(request)
        raw_token = request.COOKIES.get(settings.JWT_COOKIE_ACCESS)
        if not raw_token:
            return None
        validated = self.get_validated_token(raw_token.encode())
        user = self.get_user(validated)
        self._enforce_csrf(request)
        return user, validated

    @staticmethod
    def _enforce_csrf(request: Request) -> None:
        check = _CSRFCheck(_dummy_view)
        check.process_request(request._request)
        reason = check.process_view(request._request, _dummy_view, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF failed: {reason}")
