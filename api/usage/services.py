"""Writes for usage: measuring what a video stores, counting what is served, retention and the
orphan report. Tasks (`workers.usage_tasks`) and the internal hooks call these."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from api.core.errors import NotFound
from api.core.tasks import task_enqueue_on_commit
from api.usage.models import UserStorage, VideoEgress, VideoStorage
from api.usage.objects import object_store, video_objects_measure
from api.users.models import User
from api.videos.models import Video, VideoSource, VideoStatus
from api.videos.services import video_files
from tidecast_common.layout import PLAYLIST_SUFFIX, is_video_url
from tidecast_common.object_store import HLS_PREFIX

logger = logging.getLogger(__name__)

MEASURE_TASK = "usage.measure_video"
USER_FILES_REMOVE_TASK = "usage.remove_user_files"
MAX_EGRESS_BYTES_PER_REPORT = 1 << 50  # a sanity bound on one report's figure


def video_storage_measure(*, video: Video) -> VideoStorage:
    """Count every stored object of the video now (exact: listed, not estimated)."""
    measured = video_objects_measure(video_url=video.url, media_names=video_files(video)["media_names"])
    storage, _ = VideoStorage.objects.update_or_create(
        video=video,
        defaults={
            "stored_bytes": measured.stored_bytes,
            "object_count": measured.object_count,
            "measured_at": timezone.now(),
        },
    )
    return storage


def video_storage_measure_schedule(*, video: Video) -> None:
    """Measure the video in the worker once the current transaction commits."""
    task_enqueue_on_commit(MEASURE_TASK, kwargs={"video_id": video.pk})


def video_storage_measure_by_id(*, video_id: int) -> int:
    video = Video.objects.filter(pk=video_id).first()
    if video is None:
        return 0
    return video_storage_measure(video=video).stored_bytes


def _user_picture_files(user_id: int) -> list[tuple[Storage, str]]:
    """Every file of the user's profile picture, in the public and the private storage."""
    from api.profiles.services import avatar_folder, upload_storage

    folder = avatar_folder(user_id=user_id)
    found: list[tuple[Storage, str]] = []
    for storage in (default_storage, upload_storage()):
        try:
            _, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        found += [(storage, f"{folder}/{name}") for name in files]
    return found


def user_storage_measure(*, user_id: int) -> int:
    """Count the user's own stored objects now (their profile picture's files); returns bytes.
    The worker calls it whenever a picture is made, replaced or refused."""
    total = 0
    count = 0
    for storage, name in _user_picture_files(user_id):
        try:
            total += storage.size(name)
        except FileNotFoundError:  # replaced meanwhile: the next measurement sees its successor
            continue
        count += 1
    if not User.objects.filter(pk=user_id).exists():
        return 0
    UserStorage.objects.update_or_create(
        user_id=user_id,
        defaults={"stored_bytes": total, "object_count": count, "measured_at": timezone.now()},
    )
    return total


def user_files_remove(*, user_id: int) -> int:
    """Remove every file a deleted account owned outside its videos (its profile picture's, in
    the store or on disk). Idempotent; nothing is removed while the account exists."""
    if User.objects.filter(pk=user_id).exists():
        return 0
    removed = 0
    for storage, name in _user_picture_files(user_id):
        storage.delete(name)
        removed += 1
    if removed:
        logger.info("account %s: %d picture files removed", user_id, removed)
    return removed


def user_files_remove_schedule(*, user: User) -> None:
    """When `user` is deleted (any way: the admin, a cascade), remove their videos' files and their
    own once the deletion is committed."""
    from api.videos.services import VIDEO_FILES_REMOVE_TASK

    for video in Video.objects.filter(channel__owner=user):
        task_enqueue_on_commit(VIDEO_FILES_REMOVE_TASK, kwargs=video_files(video))
    task_enqueue_on_commit(USER_FILES_REMOVE_TASK, kwargs={"user_id": user.pk})


@transaction.atomic
def video_recording_stored(*, video_url: str) -> None:
    """The ingest has the video's recording complete in the object store: it plays from there
    and counts against its owner from now on (over quota or not: a stream is never cut)."""
    video = Video.objects.filter(url=video_url).first() if is_video_url(video_url) else None
    if video is None:
        raise NotFound("No such video.")
    VideoStorage.objects.update_or_create(video=video, defaults={"in_store": True})
    video_storage_measure_schedule(video=video)


def video_ended(*, video_url: str) -> bool:
    """Whether the video is over (neither scheduled nor live); NotFound without such a video."""
    status = Video.objects.filter(url=video_url).values_list("status", flat=True).first()
    if status is None:
        raise NotFound("No such video.")
    return status not in (VideoStatus.LIVE, VideoStatus.SCHEDULED)


def egress_record(*, counts: Mapping[str, int], day: date | None = None) -> int:
    """Add bytes sent per video url for `day` (today, UTC); unknown urls are ignored. Returns the
    rows touched."""
    day = day or timezone.now().date()
    wanted = {
        url: int(sent)
        for url, sent in counts.items()
        if is_video_url(url) and 0 < int(sent) <= MAX_EGRESS_BYTES_PER_REPORT
    }
    videos = Video.objects.filter(url__in=list(wanted)).values_list("url", "pk", "channel__owner_id")
    touched = 0
    for url, video_id, owner_id in videos:
        sent = wanted[url]
        updated = VideoEgress.objects.filter(video_url=url, day=day).update(sent_bytes=F("sent_bytes") + sent)
        if not updated:
            try:
                with transaction.atomic():
                    VideoEgress.objects.create(
                        owner_id=owner_id, video_id=video_id, video_url=url, day=day, sent_bytes=sent
                    )
            except IntegrityError:  # created meanwhile by another report
                VideoEgress.objects.filter(video_url=url, day=day).update(sent_bytes=F("sent_bytes") + sent)
        touched += 1
    return touched


def recordings_expire(*, now: datetime | None = None) -> int:
    """Delete recordings that ended more than RECORDING_RETENTION_DAYS ago, with their objects."""
    from api.videos.services import video_delete

    days = settings.RECORDING_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = Video.objects.filter(source=VideoSource.LIVE, status=VideoStatus.ENDED, ended_at__lt=cutoff)
    deleted = 0
    for video in expired.iterator():
        video_delete(video=video)
        deleted += 1
    if deleted:
        logger.info("retention: %d recordings older than %d days deleted", deleted, days)
    return deleted


@dataclass
class OrphanReport:
    """Stored video folders no video owns: by url, objects and bytes."""

    videos: dict[str, int] = field(default_factory=dict)  # url -> bytes
    scanned_objects: int = 0  # objects below hls/ listed
    removed: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.videos.values())


def storage_orphans_report(*, delete: bool | None = None) -> OrphanReport:
    """What the store and the HLS root hold for video urls that no video has; removed only with
    STORAGE_ORPHANS_DELETE (or `delete=True`)."""
    delete = settings.STORAGE_ORPHANS_DELETE if delete is None else delete
    found: dict[str, int] = {}
    objects = 0
    store = object_store()
    if store is not None:
        for item in store.list_prefix(HLS_PREFIX):
            first = item.key[len(HLS_PREFIX) :].split("/", 1)[0].removesuffix(PLAYLIST_SUFFIX)
            if is_video_url(first):
                found[first] = found.get(first, 0) + item.size
                objects += 1
    root = Path(settings.HLS_ROOT)
    if root.is_dir():
        for entry in root.iterdir():
            name = entry.name.removesuffix(PLAYLIST_SUFFIX)
            if is_video_url(name):
                found.setdefault(name, 0)
    known = set(Video.objects.filter(url__in=list(found)).values_list("url", flat=True))
    report = OrphanReport()
    for url, size in found.items():
        if url not in known:
            report.videos[url] = size
    report.scanned_objects = objects
    if report.videos:
        logger.warning("storage: %d video folders no video owns (%d bytes)%s", len(report.videos),
                       report.total_bytes, "; removing them" if delete else "")  # fmt: skip
    if delete:
        from api.videos.services import video_files_remove

        for url in report.videos:
            report.removed += video_files_remove(video_url=url, media_names=[])
    return report
