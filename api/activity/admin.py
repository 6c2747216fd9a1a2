from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from api.activity.models import ActivityEntry


@admin.register(ActivityEntry)
class ActivityEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the log is a record, not something to edit."""

    list_display = ("created_at", "user", "action", "ip", "detail")
    list_filter = ("action", "created_at")
    search_fields = ("user__username", "ip", "detail")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ActivityEntry | None = None) -> bool:
        return False
