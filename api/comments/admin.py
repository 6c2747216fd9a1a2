from django.contrib import admin

from api.comments.models import Comment


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "video", "author", "created_at")
    raw_id_fields = ("video", "author")
    search_fields = ("text",)
