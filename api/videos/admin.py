from __future__ import annotations

from django.contrib import admin

from api.videos.models import Video


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "url",
        "title",
        "channel",
        "status",
        "viewer_count",
        "created_at",
        "started_at",
        "ended_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("url", "title", "channel__name", "channel__title")
    list_select_related = ("channel",)
    readonly_fields = (
        "channel",
        "url",
        "status",
        "created_at",
        "started_at",
        "ended_at",
        "publish_id",
        "last_heartbeat_at",
        "stop_requested",
        "live_stats",
        "viewer_count",
        "live_thumbnail",
    )
    fields = ("title", "thumbnail", *readonly_fields)

    def has_add_permission(self, request: object) -> bool:
        return False  # videos are scheduled by their owner or created by a publish
