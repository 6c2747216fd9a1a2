from collections import Counter
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from api.comments.models import Comment
from api.comments.services import comments_deleted


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "video", "author", "created_at")
    raw_id_fields = ("video", "author")
    search_fields = ("text",)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            comments_deleted(obj.video, 1)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        comments = list(queryset.select_related("video"))
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            videos = {comment.video_id: comment.video for comment in comments}
            for video_id, count in Counter(comment.video_id for comment in comments).items():
                comments_deleted(videos[video_id], count)
