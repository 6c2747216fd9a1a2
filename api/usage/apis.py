"""The owner's usage, and the hooks by which the ingest and the HLS server report storage and
bytes served."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.schema import error_response
from api.ingest_hooks.apis import IngestApi
from api.ingest_hooks.authentication import IsHlsServer, ViewerReportSecretAuthentication
from api.usage.selectors import usage_get
from api.usage.services import egress_record, video_ended, video_recording_stored
from api.users.models import User
from tidecast_common.layout import VIDEO_URL_PATTERN

MAX_EGRESS_ENTRIES = 10_000


class UserUsageApi(APIView):
    class OutputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "UsageOutput"

        storage_bytes = serializers.IntegerField(help_text="Bytes of every stored file of the user's videos.")
        storage_quota_bytes = serializers.IntegerField()
        videos = serializers.IntegerField()
        egress_bytes_30d = serializers.IntegerField(
            help_text="Bytes served for the user's videos in 30 days."
        )
        streamed_seconds_30d = serializers.IntegerField(help_text="Seconds live in the last 30 days.")

    @extend_schema(tags=["usage"], responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        usage = usage_get(user=cast(User, request.user))
        return Response(self.OutputSerializer(asdict(usage)).data)


class RecordingStoredApi(IngestApi):
    """The ingest has a recording complete in the object store."""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "RecordingStoredInput"

        video_url = serializers.RegexField(f"^{VIDEO_URL_PATTERN}$")

    @extend_schema(
        tags=["internal"],
        request=InputSerializer,
        responses={204: None, 404: error_response("No such video.")},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        video_recording_stored(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecordingStateApi(IngestApi):
    """Whether a video has ended: the ingest closes a recording its dead transcoder left open."""

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "RecordingStateInput"

        video_url = serializers.RegexField(f"^{VIDEO_URL_PATTERN}$")

    class OutputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "RecordingStateOutput"

        ended = serializers.BooleanField(help_text="The video is no longer live.")

    @extend_schema(
        tags=["internal"],
        request=InputSerializer,
        responses={200: OutputSerializer, 404: error_response("No such video.")},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ended = video_ended(**serializer.validated_data)
        return Response(self.OutputSerializer({"ended": ended}).data)


class EgressApi(APIView):
    """Bytes the HLS server sent per video since its last report (its report secret)."""

    authentication_classes = [ViewerReportSecretAuthentication]
    permission_classes = [IsHlsServer]
    parser_classes = [JSONParser]
    throttle_classes = []

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "EgressInput"

        sent = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=1 << 50))

        def validate_sent(self, sent: dict[str, int]) -> dict[str, int]:
            if len(sent) > MAX_EGRESS_ENTRIES or any(len(url) > 32 for url in sent):
                raise serializers.ValidationError(f"At most {MAX_EGRESS_ENTRIES} video urls.")
            return sent

    @extend_schema(tags=["internal"], request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        egress_record(counts=serializer.validated_data["sent"])
        return Response(status=status.HTTP_204_NO_CONTENT)
