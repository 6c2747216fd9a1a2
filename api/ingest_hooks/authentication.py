"""/api/internal/ is for two services, each with a secret of its own sent in a header of its own.

- The ingest (X-Ingest-Secret = INGEST_SHARED_SECRET): the publish hooks (authorize, heartbeat, end).
- The HLS server (X-Hls-Report-Secret = HLS_REPORT_SECRET): the viewer report, and nothing else,
  so a leaked HLS server credential cannot start publishes or vouch for a client address.

Each view names the one authentication and permission it accepts; nothing else reaches it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import ClassVar, Literal

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

SECRET_HEADER = "X-Ingest-Secret"  # noqa: S105 - a header name
VIEWER_REPORT_HEADER = "X-Hls-Report-Secret"

Service = Literal["ingest", "hls"]


@dataclass(frozen=True)
class ServicePrincipal:
    """Who is calling: one of the project's own services. Not a user account."""

    service: Service
    is_authenticated: bool = True


class _ServiceSecretAuthentication(BaseAuthentication):
    """Compares one header with one secret setting in constant time.

    No WWW-Authenticate challenge is offered, so DRF answers both a missing and a wrong secret with 403.
    An empty configured secret admits no one.
    """

    header: ClassVar[str]
    setting: ClassVar[str]
    service: ClassVar[Service]

    def authenticate(self, request: Request) -> tuple[ServicePrincipal, None] | None:
        supplied = request.headers.get(self.header)
        if supplied is None:
            return None
        expected = str(getattr(settings, self.setting, "") or "")
        if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
            raise exceptions.AuthenticationFailed(f"Wrong {self.header}.")
        return ServicePrincipal(self.service), None


class IngestSecretAuthentication(_ServiceSecretAuthentication):
    header = SECRET_HEADER
    setting = "INGEST_SHARED_SECRET"
    service = "ingest"


class ViewerReportSecretAuthentication(_ServiceSecretAuthentication):
    header = VIEWER_REPORT_HEADER
    setting = "HLS_REPORT_SECRET"
    service = "hls"


class _IsService(BasePermission):
    service: ClassVar[Service]

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, ServicePrincipal) and request.user.service == self.service


class IsIngest(_IsService):
    message = "These hooks are for the ingest only."
    service = "ingest"


class IsHlsServer(_IsService):
    message = "The viewer report is for the HLS server only."
    service = "hls"


class IngestSecretScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.ingest_hooks.authentication.IngestSecretAuthentication"
    name = "IngestSecret"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": SECRET_HEADER}


class ViewerReportSecretScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.ingest_hooks.authentication.ViewerReportSecretAuthentication"
    name = "HlsReportSecret"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": VIEWER_REPORT_HEADER}
