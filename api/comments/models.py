from __future__ import annotations

from django.conf import settings
from django.db import models

from api.videos.models import Video

COMMENT_MAX_LENGTH = 2000


class Comment(models.Model):
    """A comment under a video, which is a chat message while the video is live. Plain text."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField(max_length=COMMENT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # Every read is "this video's comments after id N": one index range scan.
        indexes = [models.Index(fields=["video", "id"], name="comment_video_id")]

    def __str__(self) -> str:
        return f"comment {self.id} on {self.video_id}"
