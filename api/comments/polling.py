"""The cheap path for an empty chat poll: `?after=<latest>` on a public or unlisted video answers
`[]` from the cache (one round trip, no comment or video query).

Two entries per video url, read together:
- the latest comment id, written after every post and delete commits (from the database, read
  again after the write so that a figure gone stale meanwhile is corrected), filled on a miss with `add` so a reader's older figure never
  overwrites a writer's; it lives LATEST_SECONDS, which bounds any drift;
- that anyone may watch the video, kept WATCHABLE_SECONDS and dropped whenever the video row is
  saved or deleted (a visibility change saves it), so a video made private is checked again at once.
A private video is never cached: its owner's polls take the full path.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from api.comments.models import Comment
from api.videos.models import Video, VideoVisibility

LATEST_SECONDS = 30
WATCHABLE_SECONDS = 2
WRITE_ATTEMPTS = 3


def _latest_key(url: str) -> str:
    return f"comments:latest:{url}"


def _watchable_key(url: str) -> str:
    return f"comments:watchable:{url}"


def latest_in_database(video_id: int) -> int:
    return Comment.objects.filter(video_id=video_id).aggregate(latest=Max("id"))["latest"] or 0


def nothing_new(url: str, after: int) -> bool:
    """Whether the cache alone says a poll `?after=after` on `url` is an empty list for anyone."""
    entries = cache.get_many([_latest_key(url), _watchable_key(url)])
    latest = entries.get(_latest_key(url))
    return bool(entries.get(_watchable_key(url))) and latest is not None and after >= latest


def remember_watchable(video: Video) -> None:
    """After the full path let someone read `video`: if anyone may, say so briefly, and fill the
    latest id if the cache has none."""
    if video.visibility == VideoVisibility.PRIVATE:
        return
    cache.add(_latest_key(video.url), latest_in_database(video.pk), LATEST_SECONDS)
    cache.set(_watchable_key(video.url), True, WATCHABLE_SECONDS)


def comments_changed(video: Video) -> None:
    """A comment of `video` was posted or deleted: once that commits, the latest id is what the
    database holds."""
    url, video_id = video.url, video.pk

    def write() -> None:
        # Read again after writing: a writer whose figure went stale while another comment
        # committed sees it and writes the newer one, so the last word is always the database's.
        latest = latest_in_database(video_id)
        for _ in range(WRITE_ATTEMPTS):
            cache.set(_latest_key(url), latest, LATEST_SECONDS)
            now = latest_in_database(video_id)
            if now == latest:
                return
            latest = now
        cache.delete(_latest_key(url))  # still moving: the full path answers until it settles

    transaction.on_commit(write)


def forget_watchable(sender: Any, instance: Video, **kwargs: Any) -> None:
    """post_save/post_delete of a Video: its visibility may have changed, check it again."""
    cache.delete(_watchable_key(instance.url))
