"""The JWT cookies: HttpOnly, SameSite=Lax, Secure over HTTPS or with SECURE_COOKIES; the refresh one
only under /api/auth/."""

from __future__ import annotations

from typing import Literal, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from api.users.services import TokenPair

SameSite = Literal["Lax", "Strict", "None"]


def auth_cookies_set(response: HttpResponseBase, *, request: HttpRequest, tokens: TokenPair) -> None:
    for name, value, lifetime, path in (
        (settings.JWT_COOKIE_ACCESS, tokens.access, jwt_settings.ACCESS_TOKEN_LIFETIME, "/"),
        (
            settings.JWT_COOKIE_REFRESH,
            tokens.refresh,
            jwt_settings.REFRESH_TOKEN_LIFETIME,
            settings.JWT_COOKIE_REFRESH_PATH,
        ),
    ):
        response.set_cookie(
            name,
            value,
            max_age=int(lifetime.total_seconds()),
            path=path,
            secure=settings.SECURE_COOKIES or request.is_secure(),
            httponly=True,
            samesite=_samesite(),
        )


def auth_cookies_clear(response: HttpResponseBase) -> None:
    response.delete_cookie(settings.JWT_COOKIE_ACCESS, path="/", samesite=_samesite())
    response.delete_cookie(
        settings.JWT_COOKIE_REFRESH, path=settings.JWT_COOKIE_REFRESH_PATH, samesite=_samesite()
    )


def _samesite() -> SameSite:
    return cast(SameSite, settings.JWT_COOKIE_SAMESITE)
