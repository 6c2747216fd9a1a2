"""The OpenAPI schema as a contract: every status an operation can answer with, one error body, and
every constraint the API enforces on a string.

Most error statuses follow from how a view is built, so `TidecastAutoSchema` derives them instead of
each view listing them: a body can be invalid (400) or of the wrong media type (415), a signed-in
endpoint refuses anonymous callers (401) and cookie callers without CSRF token (403), a path
parameter or a page can name nothing (404), a throttled view says 429, and any of them answers 406
to an Accept header that rules JSON out. What only the domain knows (409 for a second channel, 404
for a user without a channel, ...) each view states with `extend_schema(responses=...)`; a status
a view states keeps the view's description.

The internal hooks (`/api/internal/`) have a schema of their own, served to the ingest only.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from api.core.authentication import JWTHeaderOrCookieAuthentication

INTERNAL_PREFIX = "/api/internal/"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# DRF's CharField refuses NUL characters always, and unless allow_blank an empty value (or, when it
# trims, one of whitespace only): the patterns say so, in the ECMA-262 dialect that OpenAPI uses.
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": {},
                "description": "Messages per field (a list of strings, or nested for nested fields).",
            },
            {"type": "array", "items": {"type": "string"}, "description": "Messages about the whole body."},
        ]
    }
)
class _ValidationMessagesField(serializers.JSONField):
    pass


# Every error the API answers with (api.core.exceptions). Built inline: a declared `errors` field
# would shadow Serializer.errors.
ErrorOutputSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="A sentence for people."),
        "code": serializers.CharField(
            help_text="A stable identifier for programs, e.g. `invalid`, `not_found`, `throttled`."
        ),
        "errors": _ValidationMessagesField(required=False, help_text="For invalid input (400) only."),
    },
)


def error_response(description: str) -> OpenApiResponse:
    """An error status of one operation, with the shared error body."""
    return OpenApiResponse(response=ErrorOutputSerializer, description=description)


class TidecastAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status_code, description in self._derived_errors().items():
            if str(status_code) not in responses:
                responses[str(status_code)] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    error_response(description), str(status_code), direction=direction
                )
        return dict(sorted(responses.items()))

    def _derived_errors(self) -> dict[int, str]:
        errors: dict[int, str] = {}
        has_body = self.method in _UNSAFE_METHODS and self.get_request_serializer() is not None
        paginated = self._is_list_view() and self._get_paginator() is not None  # type: ignore[no-untyped-call]
        if has_body:
            errors[400] = "Invalid input: `errors` holds the messages per field."
            errors[415] = "The body is in a media type this operation does not accept."
        if paginated:
            errors[400] = "Invalid input, such as a `page` that is not a whole number from 1."
            errors[404] = "No such page."
        if self._requires_sign_in():
            errors[401] = "Not signed in, or the access token is invalid or expired."
            if self.method in _UNSAFE_METHODS and self._accepts_cookie():
                errors[403] = "Signed in by cookie without a valid CSRF token."
        elif self._requires_credentials():
            errors[403] = "No credentials, or wrong ones."
        if "{" in self.path:
            errors[404] = "Nothing has that name."
        errors[406] = "The Accept header allows no JSON."
        if self.view.get_throttles():
            errors[429] = "Too many requests; `Retry-After` says when to try again."
        return errors

    def _requires_credentials(self) -> bool:
        permissions = self.view.get_permissions()
        return bool(permissions) and not all(isinstance(permission, AllowAny) for permission in permissions)

    def _requires_sign_in(self) -> bool:
        """Credentials whose absence is a 401 (a scheme with a WWW-Authenticate challenge)."""
        return self._requires_credentials() and any(
            authenticator.authenticate_header(self.view.request)
            for authenticator in self.view.get_authenticators()
        )

    def _accepts_cookie(self) -> bool:
        return any(
            isinstance(authenticator, JWTHeaderOrCookieAuthentication)
            for authenticator in self.view.get_authenticators()
        )

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)  # type: ignore[no-untyped-call]
        if direction == "request" and isinstance(field, serializers.FileField) and isinstance(schema, dict):
            return {**schema, "format": "binary"}  # a file part, not the URL a response shows
        return schema

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> Any:
        schema = super()._map_basic_serializer(serializer, direction)  # type: ignore[no-untyped-call]
        if direction != "request":
            return schema
        properties = schema.get("properties", {})
        for field in force_instance(serializer).fields.values():  # type: ignore[no-untyped-call]
            field_schema = properties.get(field.field_name)
            if isinstance(field, serializers.CharField) and isinstance(field_schema, dict):
                _refuse_blank_and_nul(field, field_schema)
        return schema


def _refuse_blank_and_nul(field: serializers.CharField, schema: dict[str, Any]) -> None:
    """State what DRF's CharField refuses, on a free string (one with no format or pattern of its own
    that already excludes it)."""
    if schema.get("type") != "string" or {"format", "pattern", "enum"} & schema.keys():
        return
    blank_refused = not field.allow_blank
    schema["pattern"] = NOT_BLANK_PATTERN if blank_refused and field.trim_whitespace else NO_NUL_PATTERN
    if blank_refused:
        schema["minLength"] = max(schema.get("minLength", 0), 1)


def public_endpoints(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """Preprocessing hook of /api/schema/: everything but the ingest's hooks."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(INTERNAL_PREFIX)]


def internal_endpoints(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """Preprocessing hook of /api/internal/schema/: the ingest's hooks only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(INTERNAL_PREFIX)]
