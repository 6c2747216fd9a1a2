"""The owner's restreaming destinations: `/api/user/channel/destinations[/<id>]`."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.channels.apis import NO_CHANNEL, signed_in_user
from api.channels.selectors import channel_get_for_owner
from api.core.fields import StrictBooleanField, StrictRegexField
from api.core.schema import error_response
from api.restream.models import Destination, DestinationStatus
from api.restream.selectors import NoSuchDestination, destination_get, destination_list, destination_status
from api.restream.services import MAX_URL_LENGTH, destination_create, destination_delete, destination_update

# What the schema promises is accepted (the service checks the same and more: private addresses).
DESTINATION_URL_PATTERN = (
    r"^[Rr][Tt][Mm][Pp][Ss]?://[A-Za-z0-9.-]+"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+){2,}$"
)
NO_DESTINATION = error_response("Your channel has no destination with that id (code `no_destination`).")
ID_PARAMETER = OpenApiParameter(
    "destination_id", str, OpenApiParameter.PATH, description="The destination's id (a UUID)."
)


class DestinationOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.CharField(
        source="url_masked", help_text="The URL with the platform's stream key masked."
    )
    enabled = serializers.BooleanField()
    status = serializers.SerializerMethodField()
    last_error = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Destination"

    @extend_schema_field(
        serializers.ChoiceField(
            choices=DestinationStatus.choices,
            help_text="idle (the channel is not live), connecting, live, or failed (see last_error).",
        )
    )
    def get_status(self, destination: Destination) -> str:
        return destination_status(destination)


def _destination_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NoSuchDestination("Your channel has no destination with that id.") from None


class UserDestinationsApi(APIView):
    class CreateInputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "DestinationCreateInput"

        url = StrictRegexField(
            DESTINATION_URL_PATTERN,
            max_length=MAX_URL_LENGTH,
            trim_whitespace=False,
            help_text="rtmp:// or rtmps:// with the platform's stream key in the path; shown masked from then on.",
        )

    @extend_schema(
        tags=["restream"], responses={200: DestinationOutputSerializer(many=True), 404: NO_CHANNEL}
    )
    def get(self, request: Request) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        return Response(DestinationOutputSerializer(destination_list(channel=channel), many=True).data)

    @extend_schema(
        tags=["restream"],
        request=CreateInputSerializer,
        responses={
            201: DestinationOutputSerializer,
            400: error_response("Not an rtmp:// or rtmps:// URL with a key (code `invalid_destination`)."),
            409: error_response(
                "The channel has all the destinations it may have (`too_many_destinations`)."
            ),
            404: NO_CHANNEL,
        },
        description="Add a destination: while the channel is live its stream is pushed there as received.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = channel_get_for_owner(owner=signed_in_user(request))
        created = destination_create(channel=channel, url=serializer.validated_data["url"])
        destination = destination_get(channel=channel, destination_id=created.id)
        return Response(DestinationOutputSerializer(destination).data, status=status.HTTP_201_CREATED)


class UserDestinationDetailApi(APIView):
    class UpdateInputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "DestinationUpdateInput"

        enabled = StrictBooleanField(required=False)

    @extend_schema(
        tags=["restream"],
        parameters=[ID_PARAMETER],
        request=UpdateInputSerializer,
        responses={200: DestinationOutputSerializer, 404: NO_DESTINATION},
        description="Switch a destination on or off; a live stream starts or stops pushing there within seconds.",
    )
    def patch(self, request: Request, destination_id: str) -> Response:
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = channel_get_for_owner(owner=signed_in_user(request))
        destination = destination_get(channel=channel, destination_id=_destination_id(destination_id))
        destination_update(destination=destination, **serializer.validated_data)
        return Response(DestinationOutputSerializer(destination).data)

    @extend_schema(
        tags=["restream"], parameters=[ID_PARAMETER], request=None, responses={204: None, 404: NO_DESTINATION}
    )
    def delete(self, request: Request, destination_id: str) -> Response:
        channel = channel_get_for_owner(owner=signed_in_user(request))
        destination = destination_get(channel=channel, destination_id=_destination_id(destination_id))
        destination_delete(destination=destination)
        return Response(status=status.HTTP_204_NO_CONTENT)
