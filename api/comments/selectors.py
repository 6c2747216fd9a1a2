"""Reads for comments: a video's comments oldest first, after an id (how the chat polls)."""

from __future__ import annotations

from django.db.models import QuerySet

from api.comments.models import Comment
from api.videos.models import Video


def comment_list(*, video: Video, after: int = 0, limit: int = 100, last: int = 0) -> list[Comment]:
    """Up to `limit` comments with an id above `after`, oldest first; with `last`, the newest
    `last` of them instead (what a page opening on a busy chat shows), still oldest first."""
    comments: QuerySet[Comment] = Comment.objects.filter(video=video, id__gt=after).select_related(
        "author__profile"
    )
    if last:
        return list(reversed(comments.order_by("-id")[: min(last, limit)]))
    return list(comments.order_by("id")[:limit])
