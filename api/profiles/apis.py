"""The signed-in user's profile and profile picture."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.fields import StrictCharField
from api.core.images import InvalidImage
from api.core.schema import error_response
from api.profiles.models import AvatarStatus, Profile
from api.profiles.services import profile_get_or_create, profile_picture_upload, profile_update
from api.users.models import User

# Multipart framing around the image: a request larger than the cap plus this is refused unread.
_MULTIPART_OVERHEAD = 64 * 1024


def _user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated has already refused anyone else


_URL = {"type": "string", "format": "uri"}
_AVATAR_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "status": {"type": "string", "enum": [choice.value for choice in AvatarStatus]},
        "original": {**_URL, "nullable": True},
        "sizes": {"type": "object", "properties": {"64": _URL, "128": _URL, "256": _URL}},
        "error": {"type": "string", "description": "Why the picture failed (status failed only)."},
    },
    "required": ["status", "original", "sizes"],
}


class ProfileOutputSerializer(serializers.Serializer[Profile]):
    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField()
    bio = serializers.CharField()
    avatar = serializers.SerializerMethodField()

    def _url(self, name: str) -> str:
        url = default_storage.url(name)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    @extend_schema_field(_AVATAR_SCHEMA)
    def get_avatar(self, profile: Profile) -> dict[str, Any] | None:
        """null, or {"status", "original", "sizes": {"64", "128", "256"}} plus "error" when failed."""
        if not profile.avatar_status:
            return None
        avatar: dict[str, Any] = {
            "status": profile.avatar_status,
            "original": self._url(profile.avatar_original.name or "") if profile.avatar_original else None,
            "sizes": {size: self._url(name) for size, name in profile.avatar_sizes.items()},
        }
        if profile.avatar_status == AvatarStatus.FAILED:
            avatar["error"] = profile.avatar_error
        return avatar


class ProfileApi(APIView):
    class ProfileInputSerializer(serializers.Serializer[Any]):
        display_name = StrictCharField(max_length=50, allow_blank=True, required=False)
        bio = StrictCharField(max_length=1000, allow_blank=True, required=False)

    @extend_schema(
        operation_id="profile_get",
        summary="The signed-in user's profile",
        responses={200: ProfileOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        profile = profile_get_or_create(user=_user(request))
        return Response(ProfileOutputSerializer(profile, context={"request": request}).data)

    @extend_schema(
        operation_id="profile_update",
        summary="Change the display name or bio",
        request=ProfileInputSerializer,
        responses={200: ProfileOutputSerializer, 400: error_response("Invalid input.")},
    )
    def patch(self, request: Request) -> Response:
        serializer = self.ProfileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = profile_update(user=_user(request), **serializer.validated_data)
        return Response(ProfileOutputSerializer(profile, context={"request": request}).data)


class ProfilePictureApi(APIView):
    parser_classes = (MultiPartParser,)

    class PictureInputSerializer(serializers.Serializer[Any]):
        image = serializers.FileField(allow_empty_file=True)

    @extend_schema(
        operation_id="profile_picture_upload",
        summary="Upload a profile picture (JPEG, PNG, WebP or GIF; resized in the background)",
        request={"multipart/form-data": PictureInputSerializer},
        responses={
            202: inline_serializer(
                "PictureAccepted",
                {"status": serializers.ChoiceField(choices=[AvatarStatus.PROCESSING.value])},
            ),
            400: error_response("Not a supported image, damaged, too large, or too many pixels."),
            503: error_response("Background processing is unavailable; nothing was changed."),
        },
    )
    def put(self, request: Request) -> Response:
        self._refuse_oversized(request)
        serializer = self.PictureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile_picture_upload(user=_user(request), image=serializer.validated_data["image"])
        return Response({"status": AvatarStatus.PROCESSING}, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _refuse_oversized(request: Request) -> None:
        """Refuse an oversized body before the multipart parser spools it to disk."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.IMAGE_UPLOAD_MAX_BYTES + _MULTIPART_OVERHEAD:
            raise InvalidImage(
                f"The image is larger than {settings.IMAGE_UPLOAD_MAX_BYTES // (1024 * 1024)} MB.",
                code="image_too_large",
            )
