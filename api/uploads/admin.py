from __future__ import annotations

from django.contrib import admin

from api.uploads.models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "owner", "video", "offset", "length", "created_at", "completed_at")
    readonly_fields = ("id", "owner", "video", "length", "offset", "path", "created_at", "completed_at")
