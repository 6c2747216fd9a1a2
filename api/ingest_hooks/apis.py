"""The ingest's hooks: thin views over api.videos.services' publish lifecycle."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.fields import StrictCharField
from api.core.schema import error_response
from api.ingest_hooks.authentication import (
    IngestSecretAuthentication,
    IsHlsServer,
    IsIngest,
    ViewerReportSecretAuthentication,
)
from api.ingest_hooks.throttling import authorize_attempt_check, authorize_failure_record
from api.restream.selectors import destination_targets_for_publish
from api.restream.services import REPORTED_STATUSES, DestinationReport, destination_statuses_report
from api.videos.services import (
    PublishDenied,
    PublishGrant,
    video_publish_end,
    video_publish_heartbeat,
    video_publish_start,
    video_viewers_set,
)

MAX_STATS = 32
MAX_VIEWER_ENTRIES = 10_000
MAX_DESTINATION_REPORTS = 64


class PublishIdField(serializers.UUIDField):
    """A UUID in its string form only (DRF would also take an integer)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class IngestApi(APIView):
    authentication_classes = [IngestSecretAuthentication]
    permission_classes = [IsIngest]
    parser_classes = [JSONParser]
    throttle_classes = []


class _RenditionSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    height = serializers.IntegerField()
    video_kbps = serializers.IntegerField()
    audio_kbps = serializers.IntegerField()
    profile = serializers.CharField()


class _DestinationTargetSerializer(serializers.Serializer[Any]):
    class Meta:
        ref_name = "RestreamTarget"

    id = serializers.UUIDField()
    url = serializers.CharField(
        help_text="In clear, with the platform's key: for the ingest alone, never logged."
    )


class _DestinationReportSerializer(serializers.Serializer[Any]):
    class Meta:
        ref_name = "RestreamReport"

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[str(choice) for choice in REPORTED_STATUSES])
    error = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PublishAuthorizeApi(IngestApi):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "PublishAuthorizeInput"

        stream_key = StrictCharField(max_length=256, trim_whitespace=False)
        client_ip = serializers.IPAddressField()

    class GrantSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "PublishGrant"

        allow = serializers.SerializerMethodField()
        publish_id = serializers.UUIDField()
        video_url = serializers.CharField()
        channel = serializers.CharField(source="channel_name")
        ladder = _RenditionSerializer(many=True)
        segment_seconds = serializers.IntegerField()
        heartbeat_interval = serializers.IntegerField()
        destinations = serializers.SerializerMethodField()

        def get_allow(self, grant: object) -> bool:
            return True

        @extend_schema_field(_DestinationTargetSerializer(many=True))
        def get_destinations(self, grant: PublishGrant) -> list[dict[str, Any]]:
            targets = destination_targets_for_publish(publish_id=grant.publish_id)
            return list(_DestinationTargetSerializer(targets, many=True).data)

    @extend_schema(
        tags=["internal"],
        request=InputSerializer,
        responses={
            200: GrantSerializer,
            403: inline_serializer(
                "PublishDenial",
                {
                    "allow": serializers.BooleanField(
                        required=False,
                        help_text="false when the stream key was refused; absent when the caller "
                        "was refused before the key was looked at (no or a wrong X-Ingest-Secret).",
                    ),
                    "code": serializers.CharField(),
                    "detail": serializers.CharField(),
                },
            ),
            429: error_response("Too many failed attempts from this client_ip, or in all."),
        },
        description="Authorize a publish and start it: the channel's video goes live. "
        "Failed attempts are throttled per client_ip (429).",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client_ip = serializer.validated_data["client_ip"]
        authorize_attempt_check(client_ip=client_ip)
        try:
            grant = video_publish_start(
                stream_key=serializer.validated_data["stream_key"], client_ip=client_ip
            )
        except PublishDenied as denial:
            if denial.code == "unknown_key":
                authorize_failure_record(client_ip=client_ip)
            raise
        return Response(self.GrantSerializer(grant).data)


class PublishHeartbeatApi(IngestApi):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "PublishHeartbeatInput"

        publish_id = PublishIdField()
        stats = serializers.DictField(child=serializers.FloatField(), required=False, default=dict)
        destinations = _DestinationReportSerializer(
            many=True,
            required=False,
            max_length=MAX_DESTINATION_REPORTS,  # type: ignore[call-arg]
        )

        def validate_stats(self, stats: dict[str, float]) -> dict[str, float]:
            if len(stats) > MAX_STATS or any(len(name) > 64 for name in stats):
                raise serializers.ValidationError(f"At most {MAX_STATS} stats with names of 64 characters.")
            return stats

    @extend_schema(
        tags=["internal"],
        request=InputSerializer,
        responses=inline_serializer(
            "HeartbeatVerdict",
            {
                "continue": serializers.BooleanField(),
                "reason": serializers.CharField(required=False),
                "destinations": _DestinationTargetSerializer(
                    many=True, required=False, help_text="While it continues: the enabled destinations now."
                ),
            },
        ),
        description="Keep a publish live; `destinations` reports each restream's status, and the answer "
        "lists the destinations enabled now (switched on or off while live).",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        publish_id = serializer.validated_data["publish_id"]
        verdict = video_publish_heartbeat(publish_id=publish_id, stats=serializer.validated_data["stats"])
        if not verdict.proceed:
            return Response({"continue": False, "reason": verdict.reason})
        reports = serializer.validated_data.get("destinations") or []
        destination_statuses_report(
            publish_id=publish_id,
            reports=[DestinationReport(r["id"], r["status"], r["error"]) for r in reports],
        )
        targets = destination_targets_for_publish(publish_id=publish_id)
        return Response(
            {"continue": True, "destinations": _DestinationTargetSerializer(targets, many=True).data}
        )


class PublishEndApi(IngestApi):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "PublishEndInput"

        publish_id = PublishIdField()

    @extend_schema(
        tags=["internal"],
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "PublishEnded", {"video_url": serializers.CharField(), "status": serializers.CharField()}
            ),
            404: error_response("No publish has that id."),
        },
        description="End a publish. Idempotent: repeating it answers the same.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        video = video_publish_end(**serializer.validated_data)
        return Response({"video_url": video.url, "status": video.status})


class ViewersApi(APIView):
    """The HLS server's viewer counts: its own secret, which opens this hook only."""

    authentication_classes = [ViewerReportSecretAuthentication]
    permission_classes = [IsHlsServer]
    parser_classes = [JSONParser]
    throttle_classes = []

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "ViewersInput"

        counts = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=10_000_000))

        def validate_counts(self, counts: dict[str, int]) -> dict[str, int]:
            if len(counts) > MAX_VIEWER_ENTRIES or any(len(url) > 32 for url in counts):
                raise serializers.ValidationError(f"At most {MAX_VIEWER_ENTRIES} video urls.")
            return counts

    @extend_schema(tags=["internal"], request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        video_viewers_set(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
