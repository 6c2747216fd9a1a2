from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from api.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "owner", "url", "events", "created_at")
    search_fields = ("owner__username", "url")
    list_select_related = ("owner",)
    # The sealed secret is never shown, not even sealed.
    exclude = ("secret_ciphertext",)
    readonly_fields = ("owner", "url", "events", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "created_at", "status_code", "error", "response_excerpt", "duration_ms")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("message_id", "endpoint", "event", "video_url", "state", "attempts", "created_at")
    list_filter = ("state", "event")
    search_fields = ("message_id", "video_url", "endpoint__url")
    list_select_related = ("endpoint",)
    inlines = (WebhookAttemptInline,)
    readonly_fields = (
        "endpoint", "event", "message_id", "video_url", "body", "state", "attempts",
        "next_attempt_at", "created_at", "finished_at",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
