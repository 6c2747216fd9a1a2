from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.channels.apis import NO_CHANNEL
from api.channels.selectors import channel_get_for_owner
from api.core.authentication import OptionalJWTAuthentication
from api.core.errors import NotFound
from api.core.fields import StrictBooleanField, StrictCharField
from api.core.pagination import PageNumberPagination
from api.core.schema import NO_NUL_PATTERN, error_response
from api.core.throttling import client_ip
from api.users.models import User
from api.videos.models import VideoVisibility
from api.videos.playback import playback_token_create
from api.videos.selectors import (
    video_get_for_owner,
    video_get_watchable,
    video_list_for_channel,
    video_list_public,
)
from api.videos.serializers import VideoOwnerOutputSerializer, VideoPublicOutputSerializer
from api.videos.services import video_create, video_delete, video_update
from tidecast_common.layout import VIDEO_URL_PATTERN, is_video_url

NO_PUBLIC_VIDEO = "No public video has that url."
NO_OWN_VIDEO = error_response("You have no video with that url.")
VIDEO_URL_PARAMETER = OpenApiParameter("url", str, OpenApiParameter.PATH, pattern=f"^{VIDEO_URL_PATTERN}$")


def signed_in_user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated has already refused anyone else


def signed_in_or_none(request: Request) -> User | None:
    user = request.user
    return user if user is not None and user.is_authenticated else None


class UserChannelVideosApi(APIView):
    """The signed-in user's videos: list them, or schedule a new one."""

    pagination_class = PageNumberPagination
    parser_classes = (JSONParser, MultiPartParser)

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "VideoCreateInput"

        title = StrictCharField(max_length=120)
        thumbnail = serializers.FileField(required=False, allow_null=True)

    @extend_schema(tags=["videos"], responses={200: VideoOwnerOutputSerializer(many=True), 404: NO_CHANNEL})
    def get(self, request: Request) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(video_list_for_channel(channel=channel), request, view=self)
        data = VideoOwnerOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        tags=["videos"],
        request={
            "multipart/form-data": InputSerializer,
            # A JSON body cannot carry the picture.
            "application/json": inline_serializer(
                "VideoCreateJsonInput", {"title": StrictCharField(max_length=120)}
            ),
        },
        responses={
            201: VideoOwnerOutputSerializer,
            400: error_response("Invalid input, or a thumbnail that is not a supported image."),
            404: NO_CHANNEL,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = channel_get_for_owner(owner=signed_in_user(request))
        video = video_create(channel=channel, **serializer.validated_data)
        data = VideoOwnerOutputSerializer(video, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class UserChannelVideoDetailApi(APIView):
    """One of the signed-in user's videos, whatever its status or visibility: read, edit, delete."""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "VideoUpdateInput"

        title = StrictCharField(max_length=120, required=False)
        description = StrictCharField(max_length=5000, required=False, allow_blank=True)
        visibility = serializers.ChoiceField(choices=VideoVisibility.choices, required=False)
        comments_enabled = StrictBooleanField(required=False)

    @extend_schema(
        tags=["videos"],
        parameters=[VIDEO_URL_PARAMETER],
        responses={200: VideoOwnerOutputSerializer, 404: NO_OWN_VIDEO},
    )
    def get(self, request: Request, url: str) -> Response:
        video = video_get_for_owner(owner=signed_in_user(request), url=url)
        return Response(VideoOwnerOutputSerializer(video, context={"request": request}).data)

    @extend_schema(
        tags=["videos"],
        parameters=[VIDEO_URL_PARAMETER],
        request=InputSerializer,
        responses={200: VideoOwnerOutputSerializer, 400: error_response("Invalid input."), 404: NO_OWN_VIDEO},
    )
    def patch(self, request: Request, url: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        video = video_get_for_owner(owner=signed_in_user(request), url=url)
        video = video_update(video=video, **serializer.validated_data)
        return Response(VideoOwnerOutputSerializer(video, context={"request": request}).data)

    @extend_schema(
        tags=["videos"],
        parameters=[VIDEO_URL_PARAMETER],
        request=None,
        responses={
            204: None,
            404: NO_OWN_VIDEO,
            409: error_response("A live video cannot be deleted; end the stream first."),
        },
    )
    def delete(self, request: Request, url: str) -> Response:
        video = video_get_for_owner(owner=signed_in_user(request), url=url)
        video_delete(video=video, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VideoPublicListApi(APIView):
    """The public catalogue: live and recorded videos, live first."""

    authentication_classes = []  # public: a stale token must not turn a read into a 401
    permission_classes = [AllowAny]
    pagination_class = PageNumberPagination

    class QuerySerializer(serializers.Serializer[Any]):
        search = StrictCharField(required=False, allow_blank=True, default="")

    @extend_schema(
        tags=["public"],
        parameters=[
            OpenApiParameter(
                "search", str, description="Text found in the title or channel", pattern=NO_NUL_PATTERN
            )
        ],
        responses=VideoPublicOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        search = query.validated_data["search"]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(video_list_public(search=search), request, view=self)
        data = VideoPublicOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class VideoPublicDetailApi(APIView):
    """A video anyone may watch, or the signed-in owner's private one."""

    # Public: a stale token makes the request anonymous, never a 401.
    authentication_classes = [OptionalJWTAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["public"],
        parameters=[VIDEO_URL_PARAMETER],
        responses={200: VideoPublicOutputSerializer, 404: error_response(NO_PUBLIC_VIDEO)},
    )
    def get(self, request: Request, url: str) -> Response:
        if not is_video_url(url):  # never a lookup of what cannot be a video url (NUL included)
            raise NotFound(NO_PUBLIC_VIDEO)
        video = video_get_watchable(url=url, user=signed_in_or_none(request))
        return Response(VideoPublicOutputSerializer(video, context={"request": request}).data)


class VideoPlaybackTokenApi(APIView):
    """A playback URL with a token in its path: plays in any HLS player until `expires_at`."""

    authentication_classes = [OptionalJWTAuthentication]
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "PlaybackToken"

        playback_url = serializers.URLField()
        expires_at = serializers.DateTimeField()

    @extend_schema(
        tags=["public"],
        parameters=[VIDEO_URL_PARAMETER],
        request=None,
        responses={200: OutputSerializer, 404: error_response(NO_PUBLIC_VIDEO)},
    )
    def post(self, request: Request, url: str) -> Response:
        if not is_video_url(url):
            raise NotFound(NO_PUBLIC_VIDEO)
        video = video_get_watchable(url=url, user=signed_in_or_none(request))
        grant = playback_token_create(video=video)
        data = self.OutputSerializer(
            {"playback_url": grant.playback_url, "expires_at": grant.expires_at}
        ).data
        return Response(data, headers={"Cache-Control": "no-store"})
