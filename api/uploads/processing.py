"""The processing of a finished upload, run by the workers on the uploads queue (UPLOAD_QUEUE).

1. `upload_process`: probe the original (ffprobe), refuse what must not be processed with a plain
   sentence, cut it at keyframes into pieces (streams copied), and queue one task per piece, each
   making every rendition in one ffmpeg (the piece decoded once, `transcoder.vod_command`). First
   in the queue, a quick task makes the first piece's lowest rendition alone (the first piece's
   own task then makes the others), so the video plays within seconds whatever its length.
2. `upload_piece_run`: transcode one piece (ffmpeg at a lower CPU priority), move its segments
   into the HLS folder, and republish the playlists: each rendition's playlist lists its pieces
   done so far in order; the master is written as soon as the lowest rendition's first piece is
   done (the video is then `playable`) and lists a higher rendition once all its pieces are done.
   When every piece is done the video is `ready`.

Every step is idempotent: a redelivered task finds its piece done and only republishes; segment
names are fixed per piece, files are written to a temporary folder and renamed into place, and
playlists are rewritten whole (atomically) from the database under a file lock. A piece whose
worker died (its heartbeat went stale) is queued again by `upload_requeue_stale`; a piece that
fails is retried alone, and after UPLOAD_PIECE_RETRIES failures the video fails. Deleting the
video cancels everything: running ffmpegs see the video gone within a heartbeat and are killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.core.tasks import task_enqueue_on_commit
from api.uploads.files import original_path, upload_folder, work_folder
from api.uploads.models import PieceStatus, Upload, UploadPiece
from api.usage.objects import video_hls_upload
from api.usage.services import video_storage_measure_schedule
from api.videos.models import Video, VideoStatus
from api.videos.thumbnails import video_thumbnail_resize_schedule
from api.webhooks.models import WebhookEvent
from api.webhooks.services import webhook_event_emit
from tidecast_common.ladder import parse_variants
from tidecast_common.layout import HlsLayout
from tidecast_common.media_caps import FrameCaps
from transcoder import vod, vod_command
from transcoder.ladder import Rendition
from transcoder.playlists import atomic_write_text, master_playlist

logger = logging.getLogger(__name__)

UPLOAD_PIECE_TASK = "uploads.piece"
STDERR_TAIL_BYTES = 4000
NOT_TRANSCODED = "The video could not be transcoded: ffmpeg failed on part of it."


class Outcome(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    ALREADY_DONE = "already_done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class PieceFailed(RuntimeError):
    """ffmpeg failed on a piece (retried alone)."""


def _layout() -> HlsLayout:
    return HlsLayout(Path(settings.HLS_ROOT))


def _caps() -> FrameCaps:
    return FrameCaps(settings.UPLOAD_MAX_WIDTH, settings.UPLOAD_MAX_HEIGHT, settings.UPLOAD_MAX_FPS)


def _lower_priority() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.nice(settings.UPLOAD_NICE)


def _still_processing(video_id: int) -> bool:
    return Video.objects.filter(pk=video_id, status=VideoStatus.PROCESSING).exists()


def _queue_piece(piece_id: int) -> None:
    task_enqueue_on_commit(UPLOAD_PIECE_TASK, kwargs={"piece_id": piece_id}, queue=settings.UPLOAD_QUEUE)


def _announce(video_id: int, *, event: WebhookEvent, action: ActivityAction, detail: str = "") -> None:
    """The owner's webhooks and activity log learn of the outcome (inside the transaction)."""
    video = Video.objects.select_related("channel__owner").filter(pk=video_id).first()
    if video is None:
        return
    webhook_event_emit(event=event, video=video)
    activity_record(user=video.channel.owner, action=action, detail=f"video {video.url} {detail}".strip())


def upload_fail(*, video_id: int, message: str) -> bool:
    """The video fails with `message`; it keeps no files (original, segments, playlists)."""
    with transaction.atomic():
        updated = Video.objects.filter(
            pk=video_id, status__in=[VideoStatus.PROCESSING, VideoStatus.UPLOADING]
        ).update(status=VideoStatus.FAILED, error=message[:300], playable=False)
        if updated:
            _announce(
                video_id, event=WebhookEvent.VIDEO_FAILED, action=ActivityAction.VIDEO_FAILED, detail=message
            )
        UploadPiece.objects.filter(upload__video_id=video_id).exclude(status=PieceStatus.DONE).update(
            status=PieceStatus.FAILED
        )
        url = Video.objects.filter(pk=video_id).values_list("url", flat=True).first()
        if updated and url:
            # Before the commit: nobody sees the video failed while its files are still there.
            _remove_outputs(url)
            shutil.rmtree(upload_folder(url), ignore_errors=True)
    if updated and url:
        logger.info("video %s failed: %s", url, message)
    return bool(updated)


def _remove_outputs(video_url: str) -> None:
    layout = _layout()
    layout.master(video_url).unlink(missing_ok=True)
    shutil.rmtree(layout.video_dir(video_url), ignore_errors=True)


def _run_bounded(argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        argv, capture_output=True, timeout=timeout, check=False, preexec_fn=_lower_priority
    )


def upload_process(*, video_id: int) -> Outcome:
    """Probe, refuse or cut the original, and queue its pieces. A repeat only requeues what is left."""
    upload = Upload.objects.select_related("video").filter(video_id=video_id).first()
    if upload is None or upload.video.status != VideoStatus.PROCESSING:
        return Outcome.CANCELLED
    if upload.plan:
        for piece_id in upload.pieces.filter(status=PieceStatus.PENDING).values_list("id", flat=True):
            with transaction.atomic():
                _queue_piece(piece_id)
        return Outcome.PLANNED
    Upload.objects.filter(pk=upload.pk).update(processing_heartbeat_at=timezone.now())
    video = upload.video
    original = original_path(video.url)
    try:
        probe = _probe(original)
    except vod.ProbeError as exc:
        upload_fail(video_id=video_id, message=exc.message)
        return Outcome.FAILED
    reason = vod.refusal(probe, max_seconds=settings.UPLOAD_MAX_SECONDS, caps=_caps())
    if reason is not None:
        upload_fail(video_id=video_id, message=reason)
        return Outcome.FAILED
    try:
        pieces = _split(video.url, original, probe)
    except vod.ProbeError as exc:
        upload_fail(video_id=video_id, message=exc.message)
        return Outcome.FAILED
    if pieces is None:
        return Outcome.CANCELLED
    duration = probe.duration if probe.duration is not None else pieces[-1].end - probe.start_time
    renditions = vod.renditions_for(
        probe,
        variants=parse_variants(settings.TRANSCODE_LADDER),
        segment_seconds=settings.HLS_SEGMENT_SECONDS,
    )
    plan = {
        "probe": probe.to_mapping(),
        "renditions": [asdict(r) for r in renditions],
        "pieces": [asdict(p) for p in pieces],
        "duration": duration,
    }
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        if locked.plan or not _still_processing(video_id):
            return Outcome.PLANNED
        locked.plan = plan
        locked.save(update_fields=["plan"])
        Video.objects.filter(pk=video_id).update(duration_seconds=round(duration, 3))
        rows = UploadPiece.objects.bulk_create(_piece_rows(locked, pieces=pieces, renditions=renditions))
        for row in sorted(rows, key=lambda row: row.priority):
            _queue_piece(row.id)
    _thumbnail_from_frames(video_id=video_id, original=original, duration=duration)
    logger.info(
        "video %s: %s pieces x %s renditions queued", video.url, len(pieces), [r.name for r in renditions]
    )
    return Outcome.PLANNED


def _piece_rows(
    upload: Upload, *, pieces: list[vod.Piece], renditions: tuple[Rendition, ...]
) -> list[UploadPiece]:
    """One row per piece making every rendition; the first piece's lowest rendition is a row of
    its own, first in the queue (priority 0), and the first piece's row makes the others."""
    names = [r.name for r in renditions]
    rows = [UploadPiece(upload=upload, index=pieces[0].index, quick=True, renditions=names[:1], priority=0)]
    for piece in pieces:
        wanted = names[1:] if piece.index == pieces[0].index else names
        if wanted:
            rows.append(
                UploadPiece(upload=upload, index=piece.index, renditions=wanted, priority=1 + piece.index)
            )
    return rows


def _probe(original: Path) -> vod.Probe:
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            vod.probe_command(original, ffprobe=settings.FFPROBE),
            capture_output=True,
            timeout=settings.UPLOAD_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise vod.ProbeError(
            "The file could not be read in time: it is not a video that can be read."
        ) from None
    return vod.parse_probe(
        result.stdout,
        returncode=result.returncode,
        stderr=result.stderr[-STDERR_TAIL_BYTES:].decode(errors="replace"),
    )


def _split(video_url: str, original: Path, probe: vod.Probe) -> list[vod.Piece] | None:
    """Cut the original into pieces below work/pieces (a fresh folder renamed into place)."""
    work = work_folder(video_url)
    final = work / "pieces"
    if final.is_dir():
        shutil.rmtree(final)
    scratch = work / f"pieces.{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    times = vod.split_times(
        probe.duration,
        piece_seconds=settings.UPLOAD_PIECE_SECONDS,
        first_piece_seconds=settings.UPLOAD_FIRST_PIECE_SECONDS,
        start_time=probe.start_time,
    )
    argv = vod.split_command(
        original=original, folder=scratch, times=times, has_audio=probe.has_audio, ffmpeg=settings.FFMPEG
    )
    try:
        result = _run_bounded(argv, timeout=settings.UPLOAD_SPLIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        shutil.rmtree(scratch, ignore_errors=True)
        raise vod.ProbeError("The file took too long to read: it may be damaged.") from None
    csv = scratch / "pieces.csv"
    pieces = vod.parse_piece_list(csv.read_text(), start_time=probe.start_time) if csv.exists() else []
    if result.returncode != 0 or not pieces:
        logger.info(
            "split of %s failed: %s", video_url, result.stderr[-STDERR_TAIL_BYTES:].decode(errors="replace")
        )
        shutil.rmtree(scratch, ignore_errors=True)
        raise vod.ProbeError("The file is damaged: it cannot be read to its end.")
    end = pieces[-1].end - probe.start_time
    if probe.duration is not None and end < probe.duration - max(2.0, 0.05 * probe.duration):
        shutil.rmtree(scratch, ignore_errors=True)
        raise vod.ProbeError(
            f"The file is truncated: its media stops at {vod._clock(end)} of the "
            f"{vod._clock(probe.duration)} it announces. Upload the whole file again."
        )
    if probe.duration is None and end > settings.UPLOAD_MAX_SECONDS:
        shutil.rmtree(scratch, ignore_errors=True)
        raise vod.ProbeError(f"The video lasts {vod._clock(end)}, longer than an upload may last.")
    scratch.rename(final)
    return pieces


def _thumbnail_from_frames(*, video_id: int, original: Path, duration: float) -> None:
    """A picture from the video itself, unless one was uploaded (best effort: none on failure)."""
    video = Video.objects.filter(pk=video_id).only("url", "thumbnail").first()
    if video is None or video.thumbnail:
        return
    at = min(max(duration * 0.1, 0.0), 5.0)
    argv = [
        settings.FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-ss", f"{at:.3f}", "-i", str(original), "-frames:v", "1",
        "-vf", "scale='min(1280,iw)':-2", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
    ]  # fmt: skip
    try:
        result = _run_bounded(argv, timeout=30)
    except subprocess.TimeoutExpired:
        return
    if result.returncode != 0 or not result.stdout:
        logger.info("video %s: no frame for a thumbnail", video.url)
        return
    name = default_storage.save(f"thumbnails/{video.url}/frame.jpg", ContentFile(result.stdout))
    with transaction.atomic():
        if Video.objects.filter(pk=video_id, thumbnail="").update(thumbnail=name):
            video_thumbnail_resize_schedule(video_id=video_id)
        else:
            default_storage.delete(name)


def _renditions(plan: dict[str, Any]) -> list[Rendition]:
    return [Rendition(**data) for data in plan["renditions"]]


@contextlib.contextmanager
def _publish_lock(video_url: str) -> Iterator[None]:
    path = work_folder(video_url) / "publish.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def upload_piece_run(*, piece_id: int) -> Outcome:
    """Transcode one piece into its renditions, then republish. Raises PieceFailed on an ffmpeg error."""
    piece = UploadPiece.objects.select_related("upload__video").filter(pk=piece_id).first()
    if piece is None or piece.upload.video.status != VideoStatus.PROCESSING:
        return Outcome.CANCELLED
    upload, video = piece.upload, piece.upload.video
    if piece.status == PieceStatus.DONE:
        upload_publish(upload_id=upload.pk)
        return Outcome.ALREADY_DONE
    UploadPiece.objects.filter(pk=piece_id).update(
        status=PieceStatus.RUNNING, attempts=piece.attempts + 1, heartbeat_at=timezone.now()
    )
    plan = upload.plan
    renditions = [r for r in _renditions(plan) if r.name in piece.renditions]
    probe = vod.Probe.from_mapping(plan["probe"])
    kind = "quick" if piece.quick else "all"
    scratch = work_folder(video.url) / "out" / f"{piece.index:04d}-{kind}.{uuid.uuid4().hex[:8]}"
    for rendition in renditions:
        vod_command.rendition_folder(scratch, rendition.name).mkdir(parents=True)
    made: dict[str, list[list[Any]]] = {}
    try:
        argv = vod_command.piece_command(
            piece_file=work_folder(video.url) / "pieces" / f"piece_{piece.index:04d}.mkv",
            index=piece.index,
            renditions=renditions,
            rotation=probe.rotation,
            has_audio=probe.has_audio,
            copy_audio=probe.audio_codec == "aac",
            output_dir=scratch,
            segment_seconds=settings.HLS_SEGMENT_SECONDS,
            preset=settings.UPLOAD_X264_PRESET,
            threads=settings.UPLOAD_FFMPEG_THREADS,
            ffmpeg_binary=settings.FFMPEG,
        )
        if not _transcode(argv, scratch=scratch, piece_id=piece_id, video_id=video.pk):
            return Outcome.CANCELLED
        pieces = [vod.Piece(**data) for data in plan["pieces"]]
        start, end = vod.piece_bounds(pieces, piece.index)
        for rendition in renditions:
            folder = vod_command.rendition_folder(scratch, rendition.name)
            segments = vod.PieceSegments.parse((folder / vod_command.PIECE_PLAYLIST).read_text()).ending_at(
                start=start, end=end
            )
            target = _layout().rendition_dir(video.url, rendition.name)
            target.mkdir(parents=True, exist_ok=True)
            for _, name in segments.segments:
                (folder / name).replace(target / name)
            made[rendition.name] = [list(s) for s in segments.segments]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    UploadPiece.objects.filter(pk=piece_id).update(status=PieceStatus.DONE, segments=made, error="")
    if not _still_processing(video.pk):
        if not Video.objects.filter(pk=video.pk).exists():
            _remove_outputs(video.url)  # deleted while this piece was being moved in
        return Outcome.CANCELLED
    upload_publish(upload_id=upload.pk)
    return Outcome.DONE


def _transcode(argv: list[str], *, scratch: Path, piece_id: int, video_id: int) -> bool:
    """Run ffmpeg, touching the piece's heartbeat; False when the video went away (ffmpeg killed)."""
    log = scratch / "ffmpeg.log"
    deadline = time.monotonic() + settings.UPLOAD_PIECE_TIMEOUT_SECONDS
    next_beat = time.monotonic() + settings.UPLOAD_HEARTBEAT_SECONDS
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_lower_priority,
        )
        try:
            while process.poll() is None:
                time.sleep(0.2)
                now = time.monotonic()
                if now > deadline:
                    raise PieceFailed("the piece took longer than UPLOAD_PIECE_TIMEOUT_SECONDS")
                if now >= next_beat:
                    next_beat = now + settings.UPLOAD_HEARTBEAT_SECONDS
                    UploadPiece.objects.filter(pk=piece_id).update(heartbeat_at=timezone.now())
                    if not _still_processing(video_id):
                        return False
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    if process.returncode != 0:
        tail = log.read_bytes()[-STDERR_TAIL_BYTES:].decode(errors="replace")
        raise PieceFailed(f"ffmpeg exited with {process.returncode}: {tail}")
    return True


def upload_piece_give_up(*, piece_id: int, error: str) -> None:
    """A piece failed UPLOAD_PIECE_RETRIES times: the whole video fails."""
    piece = UploadPiece.objects.select_related("upload").filter(pk=piece_id).first()
    if piece is None:
        return
    UploadPiece.objects.filter(pk=piece_id).update(status=PieceStatus.FAILED, error=error[:300])
    upload_fail(video_id=piece.upload.video_id, message=NOT_TRANSCODED)


def upload_piece_released(*, piece_id: int, error: str) -> None:
    """A failed attempt that will be retried."""
    UploadPiece.objects.filter(pk=piece_id).update(status=PieceStatus.PENDING, error=error[:300])


def upload_publish(*, upload_id: uuid.UUID) -> None:
    """Rewrite the playlists from the pieces done so far; the video is `playable` once the master
    is written and `ready` once every piece is done.

    The master lists every rendition whose first piece is done: a piece makes all its renditions
    at once, so they grow together (only the lowest's first piece comes earlier, from the quick
    job), and a viewer who starts while the video processes gets the whole ladder, not the lowest
    rendition for good (players read the master once)."""
    upload = Upload.objects.select_related("video").get(pk=upload_id)
    video = upload.video
    renditions = _renditions(upload.plan)
    count = len(upload.plan["pieces"])
    layout = _layout()
    with _publish_lock(video.url):
        done: dict[str, list[vod.PieceSegments | None]] = {r.name: [None] * count for r in renditions}
        for index, made in upload.pieces.filter(status=PieceStatus.DONE).values_list("index", "segments"):
            for name, segments in made.items():
                if name in done and index < count:
                    done[name][index] = vod.PieceSegments(tuple((float(d), str(n)) for d, n in segments))
        complete = {name: all(p is not None for p in pieces) for name, pieces in done.items()}
        for rendition in renditions:
            text = vod.variant_playlist(done[rendition.name], segment_seconds=settings.HLS_SEGMENT_SECONDS)
            if text is not None:
                atomic_write_text(layout.variant_playlist(video.url, rendition.name), text)
        lowest = renditions[0]
        listed = [r for r in renditions if done[r.name][0] is not None]
        if not listed or not _still_processing(video.pk):
            return
        probe = vod.Probe.from_mapping(upload.plan["probe"])
        master = master_playlist(
            video_url=video.url,
            renditions=sorted(listed, key=lambda r: r.width * r.height, reverse=True),
            fps=probe.fps,
            source_codec_tag=probe.source_codec_tag,
            audio_codec_tag=vod.AUDIO_CODEC_TAG if probe.has_audio else None,
        )
        atomic_write_text(layout.master(video.url), master)
    Video.objects.filter(pk=video.pk, playable=False).update(playable=True)
    if all(complete.values()):
        _finish(upload=upload, lowest=lowest)


def _finish(*, upload: Upload, lowest: Rendition) -> None:
    now = timezone.now()
    video = upload.video
    text = _layout().variant_playlist(video.url, lowest.name).read_text()
    duration = round(vod.playlist_duration(text), 3)
    if Upload.objects.filter(pk=upload.pk, finished_at__isnull=False).exists():
        return
    # Into the object store when one is set (segments first, the master last) before the video
    # turns ready: its playback_url may point at the store. A store error (OSError) leaves it
    # processing and the piece task tries again.
    video_hls_upload(video_url=video.url)
    with transaction.atomic():
        if not Upload.objects.filter(pk=upload.pk, finished_at__isnull=True).update(finished_at=now):
            return
        if Video.objects.filter(pk=video.pk, status=VideoStatus.PROCESSING).update(
            status=VideoStatus.READY, duration_seconds=duration, ended_at=now
        ):
            _announce(video.pk, event=WebhookEvent.VIDEO_READY, action=ActivityAction.VIDEO_READY)
    shutil.rmtree(work_folder(video.url) / "pieces", ignore_errors=True)
    video_storage_measure_schedule(video=video)
    logger.info("video %s ready: %.1f s", video.url, duration)


def upload_requeue_stale() -> int:
    """Queue again the pieces (and cuts) whose worker stopped touching their heartbeat."""
    cutoff = timezone.now() - timedelta(seconds=settings.UPLOAD_STALE_SECONDS)
    requeued = 0
    stale = UploadPiece.objects.filter(
        status=PieceStatus.RUNNING, heartbeat_at__lt=cutoff, upload__video__status=VideoStatus.PROCESSING
    )
    for piece_id in stale.values_list("id", flat=True):
        with transaction.atomic():
            if UploadPiece.objects.filter(
                pk=piece_id, status=PieceStatus.RUNNING, heartbeat_at__lt=cutoff
            ).update(status=PieceStatus.PENDING):
                _queue_piece(piece_id)
                requeued += 1
    cuts = Upload.objects.filter(
        plan={}, processing_heartbeat_at__lt=cutoff, video__status=VideoStatus.PROCESSING
    ).values_list("video_id", flat=True)
    from api.uploads.services import UPLOAD_PROCESS_TASK

    for video_id in cuts:
        with transaction.atomic():
            Upload.objects.filter(video_id=video_id).update(processing_heartbeat_at=timezone.now())
            task_enqueue_on_commit(
                UPLOAD_PROCESS_TASK, kwargs={"video_id": video_id}, queue=settings.UPLOAD_QUEUE
            )
            requeued += 1
    if requeued:
        logger.info("requeued %s stale upload task(s)", requeued)
    return requeued
