"""Video representations shared by the owner's and the public endpoints (and the channel pages).

None of them can carry a stream key: they only read Video fields and the channel's name and title.
"""

from __future__ import annotations

from typing import Any

from django.db.models.fields.files import FieldFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.videos.models import Video, VideoSource, VideoStatus, VideoVisibility
from api.videos.selectors import video_playback_url


def _absolute_url(serializer: serializers.Serializer[Any], image: FieldFile) -> str:
    request = serializer.context.get("request")
    url = image.url
    return request.build_absolute_uri(url) if request is not None else url


class VideoChannelSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    title = serializers.CharField()


class VideoPublicOutputSerializer(serializers.Serializer[Any]):
    url = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=VideoStatus.choices)
    # A declared field, collected by the metaclass: it does not shadow Field.source at runtime.
    source = serializers.ChoiceField(choices=VideoSource.choices)  # type: ignore[assignment]
    visibility = serializers.ChoiceField(choices=VideoVisibility.choices)
    playable = serializers.BooleanField()
    comments_enabled = serializers.BooleanField()
    duration_seconds = serializers.FloatField(allow_null=True)
    channel = VideoChannelSerializer()
    thumbnail = serializers.SerializerMethodField()
    playback_url = serializers.SerializerMethodField()
    viewer_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.URI)
    def get_playback_url(self, video: Video) -> str:
        return video_playback_url(url=video.url, video=video)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_thumbnail(self, video: Video) -> str | None:
        """The uploaded thumbnail, else the picture taken from the live stream, else null."""
        for image in (video.thumbnail, video.live_thumbnail):
            if image:
                return _absolute_url(self, image)
        return None


class VideoOwnerOutputSerializer(VideoPublicOutputSerializer):
    id = serializers.IntegerField()
    # Health of the live stream as last reported by the ingest: for the streamer's eyes only.
    live_stats = serializers.DictField(child=serializers.FloatField(), read_only=True)
    # Why an upload failed, as a plain sentence; empty otherwise.
    error = serializers.CharField()
