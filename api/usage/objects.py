"""A video's stored objects, wherever they are: the object store (when STORAGE_S3_* are set), the
local HLS root and upload folder, plus its pictures in Django's default storage. Used by the
measurement (usage) and by the deletion (`api.videos.services.video_files_remove`).

An object is counted once by its key in the bucket, whether it is there, on local disk not yet
(or never) copied there, or both: with a store, what a finished video counts is what the bucket
holds for it."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from api.uploads.files import ORIGINAL_NAME, original_path
from tidecast_common.layout import HlsLayout, is_video_url
from tidecast_common.object_store import ObjectStore, ObjectStoreSettings, hls_key, master_key, upload_prefix

logger = logging.getLogger(__name__)


@functools.cache
def object_store() -> ObjectStore | None:
    """The object store of this process, or None when files live on the file system only."""
    if not settings.STORAGE_S3_ENDPOINT:
        return None
    return ObjectStore(
        ObjectStoreSettings(
            endpoint=settings.STORAGE_S3_ENDPOINT,
            bucket=settings.STORAGE_S3_BUCKET,
            access_key=settings.STORAGE_S3_ACCESS_KEY,
            secret_key=settings.STORAGE_S3_SECRET_KEY,
            region=settings.STORAGE_S3_REGION,
            public_url=settings.STORAGE_S3_PUBLIC_URL,
        )
    )


@dataclass(frozen=True, slots=True)
class VideoObjects:
    stored_bytes: int
    object_count: int


def video_is_private(video_url: str) -> bool:
    """Whether the video's HLS objects belong below the private prefix (its visibility)."""
    from api.videos.models import Video, VideoVisibility

    return Video.objects.filter(url=video_url, visibility=VideoVisibility.PRIVATE).exists()


def video_hls_files(video_url: str) -> dict[str, int]:
    """The video's HLS files on local disk, by object key, with their sizes."""
    layout = HlsLayout(Path(settings.HLS_ROOT))
    private = video_is_private(video_url)
    found: dict[str, int] = {}
    folder = layout.video_dir(video_url)
    if folder.is_dir():
        for entry in folder.rglob("*"):
            if entry.is_file() and not entry.name.startswith("."):
                found[hls_key(str(entry.relative_to(layout.root)), private=private)] = entry.stat().st_size
    master = layout.master(video_url)
    if master.is_file():
        found[master_key(video_url, private=private)] = master.stat().st_size
    return found


def original_key(video_url: str) -> str:
    """An upload's original in the bucket."""
    return upload_prefix(video_url) + ORIGINAL_NAME


def video_local_files(video_url: str) -> dict[str, int]:
    """The video's HLS files and uploaded original on local disk, by object key, with sizes."""
    found = video_hls_files(video_url)
    original = original_path(video_url)
    if original.is_file():
        found[original_key(video_url)] = original.stat().st_size
    return found


def video_objects_measure(*, video_url: str, media_names: list[str]) -> VideoObjects:
    """Every object of one video, each counted once: in the store, on local disk not yet (or
    never) copied there, and its pictures."""
    if not is_video_url(video_url):
        raise ValueError("not a video url")
    sizes = video_local_files(video_url)
    store = object_store()
    if store is not None:
        sizes.update({item.key: item.size for item in store.video_objects(video_url)})
    total = sum(sizes.values())
    count = len(sizes)
    for name in dict.fromkeys(media_names):  # a thumbnail may be the live thumbnail too
        if name and default_storage.exists(name):
            total += default_storage.size(name)
            count += 1
    return VideoObjects(stored_bytes=total, object_count=count)


def video_hls_upload(*, video_url: str) -> int:
    """Copy a video's HLS tree from the local HLS root into the store (for VOD renditions made by
    a worker): segments first, then the variant playlists, the master last, so a player never
    finds a playlist before its segments; then its uploaded original, which counts against the
    owner as the renditions do. A private video's HLS objects go below the private prefix.
    Returns the objects uploaded (0 without a store); a store error is an OSError."""
    store = object_store()
    if store is None or not is_video_url(video_url):
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    layout = HlsLayout(Path(settings.HLS_ROOT))
    private = video_is_private(video_url)
    folder = layout.video_dir(video_url)
    files = [entry for entry in folder.rglob("*") if entry.is_file() and not entry.name.startswith(".")]
    files.sort(key=lambda entry: (entry.suffix == ".m3u8", str(entry)))
    if layout.master(video_url).is_file():
        files.append(layout.master(video_url))
    original = original_path(video_url)
    try:
        for entry in files:
            store.put_file(hls_key(str(entry.relative_to(layout.root)), private=private), entry)
        if original.is_file():  # streamed (multipart above boto3's threshold): an original may be large
            store.client.upload_file(str(original), store.bucket, original_key(video_url))
            return len(files) + 1
    except (BotoCoreError, ClientError) as error:  # retried by the task, as storage errors are
        raise OSError(f"object store: {error}") from error
    return len(files)


def video_objects_move(*, video_url: str) -> int:
    """Move the video's HLS objects to the prefix its visibility names now (after a change of
    visibility); idempotent. Returns how many objects moved (0 without a store)."""
    store = object_store()
    if store is None or not is_video_url(video_url):
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    private = video_is_private(video_url)
    try:
        moved = store.video_move(video_url, private=private)
    except (BotoCoreError, ClientError) as error:  # retried by the task, as storage errors are
        raise OSError(f"object store: {error}") from error
    if moved:
        logger.info("video %s: %d objects moved (private: %s)", video_url, moved, private)
    return moved


def video_objects_remove(*, video_url: str) -> int:
    """Remove the video's objects from the store (its local files and pictures are removed by
    the caller); returns how many."""
    store = object_store()
    if store is None or not is_video_url(video_url):
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        removed = store.video_delete(video_url)
    except (BotoCoreError, ClientError) as error:  # retried by the task, as storage errors are
        raise OSError(f"object store: {error}") from error
    logger.info("video %s: %d objects removed from the store", video_url, removed)
    return removed
