from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.channels.models import Channel
from api.channels.services import channel_stream_key_rotate


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The stream key's hash and ciphertext are never shown; only the display prefix, read-only."""

    list_display = ("name", "title", "owner", "stream_key_prefix", "stream_key_rotated_at", "created_at")
    search_fields = ("name", "title", "owner__username", "owner__email")
    list_filter = ("created_at",)
    fields = (
        "owner",
        "name",
        "title",
        "description",
        "stream_key_prefix",
        "stream_key_rotated_at",
        "created_at",
    )
    readonly_fields = ("owner", "name", "stream_key_prefix", "stream_key_rotated_at", "created_at")
    actions = ["rotate_stream_keys"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a channel needs a generated stream key: created through the API

    @admin.action(description="Rotate the stream key (stops a live stream)")
    def rotate_stream_keys(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            channel_stream_key_rotate(channel=channel)
        self.message_user(request, f"Rotated {queryset.count()} stream key(s).", messages.SUCCESS)
