"""Every error leaves the API as JSON: {"detail": message, "code": code[, "errors": {...}]}.

This is the one place domain errors (api.core.errors.DomainError and its subclasses) become HTTP:
views let them propagate.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.core.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError) and exc.retry_after is not None:
        # DRF's Throttled words the wait into the message and sets Retry-After.
        exc = exceptions.Throttled(wait=exc.retry_after, detail=exc.message)
    elif isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code, **exc.body_extra}
        return Response(body, status=exc.status_code)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": response.data}
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "detail": response.data.get("detail", str(exc.detail))
            if isinstance(response.data, dict)
            else exc.detail,
            "code": codes if isinstance(codes, str) else exc.default_code,
        }
    return response
