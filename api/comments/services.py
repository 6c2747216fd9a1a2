"""Writes for comments: posting (the video open to comments) and deleting (author or video owner)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from api.comments.models import COMMENT_MAX_LENGTH, Comment
from api.comments.polling import comments_changed
from api.core.errors import DomainError, NotFound, PermissionDenied
from api.users.models import User
from api.videos.models import Video

logger = logging.getLogger(__name__)


class CommentsDisabled(PermissionDenied):
    code = "comments_disabled"


def comment_create(*, video: Video, author: User, text: str) -> Comment:
    """A new comment; `video` is one `author` may watch (the caller's selector said so)."""
    if not video.comments_enabled:
        raise CommentsDisabled("Comments are turned off for this video.")
    text = text.strip()
    if not text or len(text) > COMMENT_MAX_LENGTH:
        raise DomainError(f"A comment is 1 to {COMMENT_MAX_LENGTH} characters.")
    comment = Comment.objects.create(video=video, author=author, text=text)
    comments_changed(video)
    return comment


def comment_delete(*, video: Video, comment_id: int, user: User) -> None:
    """The author or the video's owner removes a comment; anyone else is refused."""
    comment = Comment.objects.filter(video=video, id=comment_id).first()
    if comment is None:
        raise NotFound("No comment has that id under this video.")
    if comment.author_id != user.pk and video.channel.owner_id != user.pk:
        raise PermissionDenied("Only the author or the video's owner can delete this comment.")
    with transaction.atomic():
        comment.delete()
        comments_deleted(video, 1)
    logger.info("comment %s on video %s deleted", comment_id, video.url)


def comments_deleted(video: Video, count: int) -> None:
    """`count` comments of `video` are gone (by the API or the admin): the chats see it at their
    next poll."""
    Video.objects.filter(pk=video.pk).update(comments_deleted=F("comments_deleted") + count)
    comments_changed(video)
