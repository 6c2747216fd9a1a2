"""The ingest authenticates with a shared secret header; nothing else reaches /api/internal/."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

SECRET_HEADER = "X-Ingest-Secret"  # noqa: S105 - a header name
_SECRET_META = "HTTP_X_INGEST_SECRET"  # noqa: S105 - a header name


@dataclass(frozen=True)
class IngestPrincipal:
    """Who is calling: the ingest. Not a user account."""

    is_authenticated: bool = True


class IngestSecretAuthentication(BaseAuthentication):
    """Compares X-Ingest-Secret with settings.INGEST_SHARED_SECRET in constant time.

    No WWW-Authenticate challenge is offered, so DRF answers both a missing and a wrong secret with 403.
    An empty configured secret admits no one.
    """

    def authenticate(self, request: Request) -> tuple[IngestPrincipal, None] | None:
        supplied = request.META.get(_SECRET_META)
        if supplied is None:
            return None
        expected = str(settings.INGEST_SHARED_SECRET or "")
        if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
            raise exceptions.AuthenticationFailed("Wrong ingest secret.")
        return IngestPrincipal(), None


class IsIngest(BasePermission):
    message = "These hooks are for the ingest only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, IngestPrincipal)


class IngestSecretScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.ingest_hooks.authentication.IngestSecretAuthentication"
    name = "IngestSecret"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": SECRET_HEADER}
