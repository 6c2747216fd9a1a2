from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.channels.models import Channel
from api.channels.selectors import (
    OwnerChannel,
    channel_get_for_owner,
    channel_get_owner_view,
    channel_get_public,
    channel_list_public,
)
from api.channels.services import channel_create, channel_stream_key_rotate, channel_update
from api.users.models import User
from api.videos.serializers import VideoPublicOutputSerializer


def signed_in_user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated has already refused anyone else


class OwnerChannelOutputSerializer(serializers.Serializer[OwnerChannel]):
    """The owner's view: the only representation that ever carries the stream key."""

    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    stream_key = serializers.CharField()
    stream_key_prefix = serializers.CharField()
    stream_key_rotated_at = serializers.DateTimeField()
    ingest_url = serializers.CharField()
    is_live = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class PublicChannelOutputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    is_live = serializers.BooleanField()
    live_video = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(VideoPublicOutputSerializer(allow_null=True))
    def get_live_video(self, channel: Channel) -> dict[str, object] | None:
        live = channel.live_videos[0] if channel.live_videos else None  # type: ignore[attr-defined]
        return VideoPublicOutputSerializer(live, context=self.context).data if live is not None else None


class UserChannelApi(APIView):
    """The signed-in user's channel (one per account)."""

    class CreateInputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ChannelCreateInput"

        name = serializers.CharField(max_length=50)
        title = serializers.CharField(max_length=120)
        description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    class UpdateInputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ChannelUpdateInput"

        title = serializers.CharField(max_length=120, required=False)
        description = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(tags=["channel"], responses=OwnerChannelOutputSerializer)
    def get(self, request: Request) -> Response:
        channel = channel_get_owner_view(owner=signed_in_user(request))
        return Response(OwnerChannelOutputSerializer(channel).data)

    @extend_schema(
        tags=["channel"],
        request=CreateInputSerializer,
        responses={201: OwnerChannelOutputSerializer},
        description="Create your channel. A second channel is 409; a taken or malformed name is 400.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel_create(owner=signed_in_user(request), **serializer.validated_data)
        channel = channel_get_owner_view(owner=signed_in_user(request))
        return Response(OwnerChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["channel"], request=UpdateInputSerializer, responses=OwnerChannelOutputSerializer)
    def patch(self, request: Request) -> Response:
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel_update(
            channel=channel_get_for_owner(owner=signed_in_user(request)), **serializer.validated_data
        )
        channel = channel_get_owner_view(owner=signed_in_user(request))
        return Response(OwnerChannelOutputSerializer(channel).data)


class UserChannelStreamKeyApi(APIView):
    @extend_schema(
        tags=["channel"],
        request=None,
        responses=inline_serializer("StreamKeyOutput", {"stream_key": serializers.CharField()}),
        description="Rotate the stream key: the old key stops working at once and a live publisher is stopped.",
    )
    def post(self, request: Request) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        return Response({"stream_key": channel_stream_key_rotate(channel=channel)})


class ChannelPublicListApi(APIView):
    authentication_classes = []  # public: a stale token must not turn a read into a 401
    permission_classes = [AllowAny]
    pagination_class = PageNumberPagination

    @extend_schema(tags=["public"], responses=PublicChannelOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(channel_list_public(), request, view=self)
        data = PublicChannelOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class ChannelPublicDetailApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["public"], responses=PublicChannelOutputSerializer)
    def get(self, request: Request, name: str) -> Response:
        channel = channel_get_public(name=name)
        return Response(PublicChannelOutputSerializer(channel, context={"request": request}).data)
