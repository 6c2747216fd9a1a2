"""The cheap path for an empty chat poll: `?after=<latest>` on a public or unlisted video answers
`[]` from the cache (one round trip, no comment or video query), with the video's count of deleted
comments, which every list answer carries (DELETIONS_HEADER) so that a chat sees a deletion at its
next poll.

Two entries per video url, read together:
- the latest comment id and the deletions count, written after every post and delete commits
  (from the database, read again after the write so that a figure gone stale meanwhile is
  corrected), filled on a miss with `add` so a reader's older figure never overwrites a writer's;
  it lives LATEST_SECONDS, which bounds any drift;
- that anyone may watch the video, kept WATCHABLE_SECONDS and dropped whenever the video row is
  saved or deleted (a visibility change saves it), so a video made private is checked again at once.
A private video is never cached: its owner's polls take the full path.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max

from api.videos.models import Video, VideoVisibility

DELETIONS_HEADER = "Comments-Deleted"
LATEST_SECONDS = 30
WATCHABLE_SECONDS = 2
WRITE_ATTEMPTS = 3


def _state_key(url: str) -> str:
    return f"comments:state:{url}"


def _watchable_key(url: str) -> str:
    return f"comments:watchable:{url}"


def state_in_database(video_id: int) -> tuple[int, int]:
    """The video's latest comment id (0 with none) and its count of deleted comments."""
    row = (
        Video.objects.filter(pk=video_id)
        .annotate(latest=Max("comments__id"))
        .values_list("latest", "comments_deleted")
        .first()
    )
    return (row[0] or 0, row[1]) if row is not None else (0, 0)


def deletions_if_nothing_new(url: str, after: int) -> int | None:
    """The video's deletions count when the cache alone says a poll `?after=after` on `url` is an
    empty list for anyone; None when the database must answer."""
    entries = cache.get_many([_state_key(url), _watchable_key(url)])
    state = entries.get(_state_key(url))
    if not entries.get(_watchable_key(url)) or not isinstance(state, tuple):
        return None
    latest, deletions = state
    return deletions if after >= latest else None


def remember_watchable(video: Video) -> None:
    """After the full path let someone read `video`: if anyone may, say so briefly, and fill the
    latest id and deletions count if the cache has none."""
    if video.visibility == VideoVisibility.PRIVATE:
        return
    cache.add(_state_key(video.url), state_in_database(video.pk), LATEST_SECONDS)
    cache.set(_watchable_key(video.url), True, WATCHABLE_SECONDS)


def comments_changed(video: Video) -> None:
    """A comment of `video` was posted or deleted: once that commits, the latest id and the
    deletions count are what the database holds."""
    url, video_id = video.url, video.pk

    def write() -> None:
        # Read again after writing: a writer whose figure went stale while another comment
        # committed sees it and writes the newer one, so the last word is always the database's.
        state = state_in_database(video_id)
        for _ in range(WRITE_ATTEMPTS):
            cache.set(_state_key(url), state, LATEST_SECONDS)
            now = state_in_database(video_id)
            if now == state:
                return
            state = now
        cache.delete(_state_key(url))  # still moving: the full path answers until it settles

    transaction.on_commit(write)


def forget_watchable(sender: Any, instance: Video, **kwargs: Any) -> None:
    """post_save/post_delete of a Video: its visibility may have changed, check it again."""
    cache.delete(_watchable_key(instance.url))
