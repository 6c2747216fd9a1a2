from __future__ import annotations

from django.contrib import admin

from api.usage.models import StorageQuota, VideoStorage


@admin.register(StorageQuota)
class StorageQuotaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "quota_bytes")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)


@admin.register(VideoStorage)
class VideoStorageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("video", "stored_bytes", "object_count", "in_store", "measured_at")
    readonly_fields = ("video", "stored_bytes", "object_count", "in_store", "measured_at")

    def has_add_permission(self, request: object) -> bool:
        return False
