"""Writes for tus uploads: creation (limits first), appending bytes, completion, termination and
the expiry of unfinished uploads.

The bytes go straight to the original's file in bounded reads; the file's size is the offset, so
a PATCH cut short (a dropped connection, a read timeout, a killed process) keeps what arrived. The
file is synced to disk once, when its last byte has arrived, before it goes to processing; before
that its bytes sit in the page cache like any written file's (only a crash of the whole machine
can lose the newest of them, and HEAD, reporting the size on disk, then resumes from what is left).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.channels.models import Channel
from api.core.errors import Conflict, DomainError, NotFound
from api.core.tasks import task_enqueue_on_commit
from api.uploads import quota
from api.uploads.files import ORIGINAL_NAME, original_path, upload_folder
from api.uploads.models import Upload
from api.uploads.protocol import check_patch_offset
from api.users.models import User
from api.videos.models import Video, VideoSource, VideoStatus
from api.videos.services import _unused_video_url, video_delete, video_files, video_files_remove

logger = logging.getLogger(__name__)

UPLOAD_PROCESS_TASK = "uploads.process"
TITLE_MAX = 120
DESCRIPTION_MAX = 5000


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "too_large"


class UploadGone(DomainError):
    status_code = 410
    code = "upload_expired"


@dataclass(frozen=True, slots=True)
class AppendResult:
    offset: int
    complete: bool
    interrupted: bool


def _expiry(now: datetime) -> datetime:
    return now + timedelta(hours=settings.UPLOAD_EXPIRY_HOURS)


def _title_from(metadata: dict[str, str]) -> str:
    title = metadata.get("title", "").strip()
    if not title:
        title = Path(metadata.get("filename", "")).stem.strip()[:TITLE_MAX]
    if not title:
        title = "Untitled upload"
    if len(title) > TITLE_MAX:
        raise DomainError(f"The title may have at most {TITLE_MAX} characters.", code="invalid")
    return title


def upload_create(*, user: User, length: int, metadata: dict[str, str]) -> Upload:
    """A new upload and its video (`uploading`). Every limit is checked before a byte is sent."""
    channel = Channel.objects.filter(owner=user).first()
    if channel is None:
        raise Conflict(
            "You need a channel to upload videos: create it with POST /api/user/channel.", code="no_channel"
        )
    if length < 1:
        raise DomainError("An empty file is not a video.", code="invalid")
    if length > settings.UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(
            f"The file is {length} bytes; uploads may have at most {settings.UPLOAD_MAX_BYTES} bytes."
        )
    remaining = quota.storage_remaining_bytes(user=user)
    if length > remaining:
        raise PayloadTooLarge(
            f"The file is {length} bytes but only {remaining} bytes of your storage quota remain.",
            code="quota_exceeded",
        )
    title = _title_from(metadata)
    description = metadata.get("description", "")
    if len(description) > DESCRIPTION_MAX:
        raise DomainError(f"The description may have at most {DESCRIPTION_MAX} characters.", code="invalid")
    now = timezone.now()
    with transaction.atomic():
        video = Video.objects.create(
            channel=channel,
            url=_unused_video_url(),
            title=title,
            description=description,
            source=VideoSource.UPLOAD,
            status=VideoStatus.UPLOADING,
        )
        upload = Upload.objects.create(
            owner=user,
            video=video,
            length=length,
            filename=metadata.get("filename", "")[:255],
            path=f"{video.url}/{ORIGINAL_NAME}",
            expires_at=_expiry(now),
        )
        folder = upload_folder(video.url)
        folder.mkdir(parents=True, exist_ok=True)
        original_path(video.url).touch(exist_ok=False)
        activity_record(user=user, action=ActivityAction.UPLOAD_STARTED, detail=f"video {video.url}")
    logger.info("upload %s created: video %s, %s bytes", upload.id, video.url, length)
    return upload


def upload_received_bytes(*, upload: Upload) -> int:
    """The offset a client resumes from: what is on disk."""
    try:
        return original_path(upload.video.url).stat().st_size
    except FileNotFoundError:
        raise NotFound("No upload has that id.") from None


def upload_check_open(*, upload: Upload, now: datetime | None = None) -> None:
    if upload.completed_at is None and upload.expires_at <= (now or timezone.now()):
        raise UploadGone("This upload expired before it was finished; start a new one.")


def upload_append(
    *, upload: Upload, offset: int, body_bytes: int, readinto: Callable[[memoryview], int]
) -> AppendResult:
    """Append a PATCH body at `offset` through one buffer of at most UPLOAD_READ_BYTES.

    `readinto(view)` fills up to len(view) bytes and returns how many, 0 at the end, or raises
    OSError (a timeout, a reset). Whatever arrived is written; the file is synced to disk when the
    upload's last byte has arrived, before it goes to processing.
    """
    upload_check_open(upload=upload)
    path = original_path(upload.video.url)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound("No upload has that id.") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("Another PATCH to this upload is in progress.", code="upload_locked") from None
        stored = os.fstat(fd).st_size
        check_patch_offset(claimed=offset, stored=stored, length=upload.length, body_bytes=body_bytes)
        received, interrupted = _copy_body(
            upload=upload, fd=fd, position=stored, body_bytes=body_bytes, readinto=readinto
        )
        complete = received == upload.length
        if complete:
            os.fsync(fd)
    finally:
        os.close(fd)
    _record_offset(upload=upload, received=received, complete=complete)
    return AppendResult(offset=received, complete=complete, interrupted=interrupted)


def _copy_body(
    *, upload: Upload, fd: int, position: int, body_bytes: int, readinto: Callable[[memoryview], int]
) -> tuple[int, bool]:
    """Read the body into one reused buffer and write each buffer-full at `position` on.

    Returns where the file now ends and whether the body was cut short. What was read before a
    failure is written too, so the file's size is always what arrived.

    Every UPLOAD_WRITEBACK_BYTES written are handed to the disk at once (asynchronous writeback),
    so the sync at the end waits for the last few only, and a large upload never leaves gigabytes
    of dirty pages to be flushed in one burst that would hold up the disk's other writers (live
    segments among them).
    """
    view = memoryview(bytearray(max(1, min(settings.UPLOAD_READ_BYTES, body_bytes))))
    writeback = _Writeback(fd, start=position)
    remaining = body_bytes
    deadline = time.monotonic() + settings.UPLOAD_PATCH_MAX_SECONDS
    interrupted = False
    while remaining > 0 and not interrupted:
        want = min(len(view), remaining)
        filled = 0
        try:
            while filled < want:
                count = readinto(view[filled:want])
                if count == 0:
                    interrupted = True
                    break
                filled += count
        except OSError as exc:
            logger.info(
                "upload %s: PATCH cut short after %s bytes: %s",
                upload.id,
                body_bytes - remaining + filled,
                exc,
            )
            interrupted = True
        written = 0
        while written < filled:
            written += os.pwrite(fd, view[written:filled], position + written)
        position += filled
        writeback.written_to(position)
        remaining -= filled
        if remaining > 0 and time.monotonic() > deadline:
            interrupted = True
    return position, interrupted


class _Writeback:
    """Starts the disk writes of each UPLOAD_WRITEBACK_BYTES-long stretch once it is written.

    POSIX_FADV_DONTNEED on a range just written starts its writeback without waiting for it (Linux
    writes dirty pages back, then drops only the pages already clean, which these are not yet): the
    page cache keeps the file for the worker that reads it next.
    """

    def __init__(self, fd: int, *, start: int) -> None:
        self._fd = fd
        self._start = start
        self._every = settings.UPLOAD_WRITEBACK_BYTES

    def written_to(self, position: int) -> None:
        if self._every <= 0 or position - self._start < self._every:
            return
        with contextlib.suppress(OSError):  # advice only: a file system without it still syncs at the end
            os.posix_fadvise(self._fd, self._start, position - self._start, os.POSIX_FADV_DONTNEED)
        self._start = position


def _record_offset(*, upload: Upload, received: int, complete: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        Upload.objects.filter(pk=upload.pk).update(offset=received, expires_at=_expiry(now))
        upload.offset = received
        if not complete or upload.completed_at is not None:
            return
        updated = Video.objects.filter(pk=upload.video_id, status=VideoStatus.UPLOADING).update(
            status=VideoStatus.PROCESSING
        )
        Upload.objects.filter(pk=upload.pk).update(completed_at=now)
        upload.completed_at = now
        if updated:
            task_enqueue_on_commit(
                UPLOAD_PROCESS_TASK, kwargs={"video_id": upload.video_id}, queue=settings.UPLOAD_QUEUE
            )
            logger.info("upload %s complete: video %s goes to processing", upload.id, upload.video_id)


def upload_terminate(*, upload: Upload) -> None:
    """tus termination: the upload and its video are discarded (files removed by a worker)."""
    video_delete(video=upload.video)


def upload_expire_stale(*, now: datetime | None = None) -> int:
    """Remove unfinished uploads past their expiry: their videos, and their bytes right away."""
    now = now or timezone.now()
    stale = Upload.objects.filter(completed_at__isnull=True, expires_at__lt=now).select_related("video")
    removed = 0
    for upload in stale:
        video = upload.video
        files = video_files(video)
        with transaction.atomic():
            deleted, _ = Video.objects.filter(
                pk=video.pk, status=VideoStatus.UPLOADING, upload__expires_at__lt=now
            ).delete()
        if deleted:
            video_files_remove(**files)
            removed += 1
            logger.info("upload %s expired: video %s and its bytes removed", upload.id, video.url)
    return removed
