from django.contrib import admin

from api.restream.models import Destination


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("url_masked", "channel", "enabled", "status", "status_changed_at")
    list_filter = ("enabled", "status")
    search_fields = ("channel__name",)
    # The ciphertext is of no use to read, and the masked URL is what the owner sees.
    exclude = ("url_ciphertext",)
    readonly_fields = ("url_masked", "status", "last_error", "status_changed_at", "created_at")
