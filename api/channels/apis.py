from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
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
from api.channels.services import (
    CHANNEL_NAME_PATTERN,
    channel_create,
    channel_stream_key_rotate,
    channel_update,
)
from api.core.errors import NotFound
from api.core.fields import StrictCharField, StrictRegexField
from api.core.pagination import PageNumberPagination
from api.core.schema import error_response
from api.core.throttling import client_ip
from api.users.models import User
from api.videos.serializers import VideoPublicOutputSerializer


def signed_in_user(request: Request) -> User:
    return cast(User, request.user)  # IsAuthenticated has already refused anyone else


# The stored name's pattern, in either case (names are lowercased on creation).
CHANNEL_NAME_INPUT_PATTERN = "^" + CHANNEL_NAME_PATTERN.pattern.replace("a-z", "A-Za-z") + "$"
NO_CHANNEL = error_response("You have no channel yet: create it with POST /api/user/channel.")
NO_SUCH_CHANNEL = "No channel has that name."


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

        name = StrictRegexField(
            CHANNEL_NAME_INPUT_PATTERN,
            max_length=50,
            min_length=2,
            trim_whitespace=False,
            error_messages={
                "invalid": "2-50 letters, digits, '-' or '_', with a letter or digit at each end."
            },
            help_text="Part of the channel's public links; stored in lowercase, never changes.",
        )
        title = StrictCharField(max_length=120)
        description = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    class UpdateInputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ChannelUpdateInput"

        title = StrictCharField(max_length=120, required=False)
        description = StrictCharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(tags=["channel"], responses={200: OwnerChannelOutputSerializer, 404: NO_CHANNEL})
    def get(self, request: Request) -> Response:
        channel = channel_get_owner_view(owner=signed_in_user(request))
        return Response(OwnerChannelOutputSerializer(channel).data)

    @extend_schema(
        tags=["channel"],
        request=CreateInputSerializer,
        responses={
            201: OwnerChannelOutputSerializer,
            400: error_response("Invalid input, or the name is taken (code `name_taken`)."),
            409: error_response("You already have a channel (code `channel_exists`)."),
        },
        description="Create your channel. A second channel is 409; a taken or malformed name is 400.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel_create(
            owner=signed_in_user(request), client_ip=client_ip(request), **serializer.validated_data
        )
        channel = channel_get_owner_view(owner=signed_in_user(request))
        return Response(OwnerChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["channel"],
        request=UpdateInputSerializer,
        responses={200: OwnerChannelOutputSerializer, 404: NO_CHANNEL},
    )
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
        responses={
            200: inline_serializer("StreamKeyOutput", {"stream_key": serializers.CharField()}),
            404: NO_CHANNEL,
        },
        description="Rotate the stream key: the old key stops working at once and a live publisher is stopped.",
    )
    def post(self, request: Request) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        key = channel_stream_key_rotate(channel=channel, client_ip=client_ip(request))
        return Response({"stream_key": key})


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

    @extend_schema(
        tags=["public"],
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=CHANNEL_NAME_INPUT_PATTERN)],
        responses={200: PublicChannelOutputSerializer, 404: error_response(NO_SUCH_CHANNEL)},
    )
    def get(self, request: Request, name: str) -> Response:
        if CHANNEL_NAME_PATTERN.fullmatch(name.lower()) is None:  # never a lookup of a NUL, say
            raise NotFound(NO_SUCH_CHANNEL)
        channel = channel_get_public(name=name)
        return Response(PublicChannelOutputSerializer(channel, context={"request": request}).data)
