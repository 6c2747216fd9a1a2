from __future__ import annotations

from django.db import models

from api.channels.models import Channel


class VideoStatus(models.TextChoices):
    # A live video: scheduled -> live -> ended (the recording).
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    # An uploaded video: uploading -> processing -> ready, or failed (with `error`).
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class VideoSource(models.TextChoices):
    LIVE = "live"
    UPLOAD = "upload"


class VideoVisibility(models.TextChoices):
    PUBLIC = "public"  # listed and playable by anyone
    UNLISTED = "unlisted"  # never listed; plays by its url
    PRIVATE = "private"  # its owner only, with a playback token


class Video(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="videos")
    # Public, unguessable stream name: /hls-live/<url>.m3u8. Lowercase letters and digits only.
    url = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=5000, blank=True)
    source = models.CharField(max_length=8, choices=VideoSource.choices, default=VideoSource.LIVE)
    visibility = models.CharField(
        max_length=8, choices=VideoVisibility.choices, default=VideoVisibility.PUBLIC
    )
    # True once the playback url answers with at least one rendition that has segments.
    playable = models.BooleanField(default=False)
    comments_enabled = models.BooleanField(default=True)
    # Comments deleted so far: every list answer carries it, so a chat that sees it change drops
    # what went at once rather than re-reading the whole list on every poll.
    comments_deleted = models.PositiveIntegerField(default=0)
    # Why a failed upload failed: a plain sentence shown to its owner.
    error = models.CharField(max_length=300, blank=True)
    # Media duration in seconds once known (an upload's probe, a recording's end).
    duration_seconds = models.FloatField(null=True, blank=True)
    thumbnail = models.ImageField(upload_to="thumbnails/", blank=True)
    live_thumbnail = models.ImageField(upload_to="live-thumbnails/", blank=True)
    status = models.CharField(max_length=16, choices=VideoStatus.choices, default=VideoStatus.SCHEDULED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The ingest's publish session currently feeding this video (set while live).
    publish_id = models.UUIDField(null=True, blank=True, unique=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when the stream key is rotated while live: the next heartbeat tells the ingest to stop.
    stop_requested = models.BooleanField(default=False)
    # Ingest/transcoder health reported with each heartbeat (bitrate, fps, keyframe interval, speed).
    live_stats = models.JSONField(default=dict, blank=True)
    viewer_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["visibility", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(status="live"),
                name="one_live_video_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.status})"
