from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.channels.selectors import channel_get_for_owner
from api.users.models import User
from api.videos.selectors import video_get_public, video_list_for_channel, video_list_public
from api.videos.serializers import VideoOwnerOutputSerializer, VideoPublicOutputSerializer
from api.videos.services import video_create


def signed_in_user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated has already refused anyone else


class UserChannelVideosApi(APIView):
    """The signed-in user's videos: list them, or schedule a new one."""

    pagination_class = PageNumberPagination

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "VideoCreateInput"

        title = serializers.CharField(max_length=120)
        thumbnail = serializers.FileField(required=False, allow_null=True)

    @extend_schema(tags=["videos"], responses=VideoOwnerOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(video_list_for_channel(channel=channel), request, view=self)
        data = VideoOwnerOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        tags=["videos"],
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        responses={201: VideoOwnerOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = channel_get_for_owner(owner=signed_in_user(request))
        video = video_create(channel=channel, **serializer.validated_data)
        data = VideoOwnerOutputSerializer(video, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class VideoPublicListApi(APIView):
    """The public catalogue: live and recorded videos, live first."""

    authentication_classes = []  # public: a stale token must not turn a read into a 401
    permission_classes = [AllowAny]
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["public"],
        parameters=[OpenApiParameter("search", str, description="Text found in the title or channel")],
        responses=VideoPublicOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        search = request.query_params.get("search", "")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(video_list_public(search=search), request, view=self)
        data = VideoPublicOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class VideoPublicDetailApi(APIView):
    authentication_classes = []  # public: a stale token must not turn a read into a 401
    permission_classes = [AllowAny]

    @extend_schema(tags=["public"], responses=VideoPublicOutputSerializer)
    def get(self, request: Request, url: str) -> Response:
        video = video_get_public(url=url)
        return Response(VideoPublicOutputSerializer(video, context={"request": request}).data)
