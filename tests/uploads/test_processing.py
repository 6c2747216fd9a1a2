"""Uploads processed end to end: tuspy over real HTTP, real Celery worker processes on the broker
(RabbitMQ in CI), real ffmpeg on files made by ffmpeg in every container the issue names."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings
from tusclient import client as tus_client

from api.uploads import processing
from api.uploads.files import original_path, work_folder
from api.uploads.models import PieceStatus, Upload, UploadPiece
from api.videos.models import Video, VideoStatus
from tests.uploads import media
from tests.uploads.conftest import bearer
from tests.workers.celery_worker import Worker, _queue_delete, _use_queue, wait_until, worker_database_url
from tidecast_common.layout import HlsLayout
from workers import app as celery_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

LADDER = [{"name": "144p", "height": 144, "video_kbps": 200, "audio_kbps": 48, "profile": "baseline"}]
DEADLINE = 180.0  # seconds; a bound for a loaded machine, not a wait


@pytest.fixture(scope="session")
def vod_env(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[dict[str, str]]:
    queue = f"tidecast-uploads-test-{uuid.uuid4().hex[:10]}"
    root = tmp_path_factory.mktemp("vod")
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings.test",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "UPLOAD_QUEUE": queue,
        "UPLOAD_ROOT": str(root / "uploads"),
        "HLS_ROOT": str(root / "hls"),
        "MEDIA_ROOT": str(root / "media"),
        "TRANSCODE_LADDER": json.dumps(LADDER),
        "UPLOAD_PIECE_SECONDS": "3",
        "UPLOAD_FIRST_PIECE_SECONDS": "1",
        "UPLOAD_MAX_SECONDS": "30",
        "INGEST_MAX_WIDTH": "1280",
        "INGEST_MAX_HEIGHT": "720",
        "UPLOAD_X264_PRESET": "ultrafast",
        "UPLOAD_HEARTBEAT_SECONDS": "0.5",
        "UPLOAD_STALE_SECONDS": "3",
        "PYTHONUNBUFFERED": "1",
        "SVT_LOG": "1",
    }
    try:
        yield env
    finally:
        _queue_delete(queue)


@pytest.fixture
def vod(vod_env, settings, live_server) -> Iterator[dict[str, str]]:
    """This process sends to the workers' queue and sees their folders."""
    settings.UPLOAD_QUEUE = vod_env["UPLOAD_QUEUE"]
    settings.UPLOAD_ROOT = Path(vod_env["UPLOAD_ROOT"])
    settings.HLS_ROOT = Path(vod_env["HLS_ROOT"])
    settings.MEDIA_ROOT = vod_env["MEDIA_ROOT"]
    settings.UPLOAD_STALE_SECONDS = float(vod_env["UPLOAD_STALE_SECONDS"])
    previous = celery_app.conf.task_default_queue
    _use_queue(vod_env["UPLOAD_QUEUE"])  # the files of a deleted video are removed by these workers too
    try:
        yield {**vod_env, "base": f"{live_server.url}/api/uploads/", "live": live_server.url}
    finally:
        _use_queue(previous)


@pytest.fixture
def start_workers(vod_env, tmp_path) -> Iterator[Callable[..., list[Worker]]]:
    started: list[Worker] = []

    def start(count: int = 1, **extra: str) -> list[Worker]:
        workers = [Worker({**vod_env, **extra}, tmp_path) for _ in range(count)]
        for worker in workers:
            worker.log_dir = tmp_path / f"w{len(started)}"
            worker.log_dir.mkdir(exist_ok=True)
            worker.start()
            started.append(worker)
        return workers

    yield start
    for worker in started:  # the test is over: what they were doing is of no use to the next one
        if worker.running:
            worker.kill()


def upload_file(
    vod: dict[str, str], user, path: Path, *, filename: str | None = None, title: str = "Clip"
) -> Video:
    uploader = tus_client.TusClient(vod["base"], headers=bearer(user)).uploader(
        file_path=str(path),
        chunk_size=256 * 1024,
        metadata={"filename": filename or path.name, "title": title},
    )
    uploader.upload()
    upload_id = uuid.UUID(uploader.url.rstrip("/").rsplit("/", 1)[1])
    return Upload.objects.select_related("video").get(pk=upload_id).video


def wait_done(video: Video, timeout: float = DEADLINE) -> Video:
    wait_until(
        lambda: Video.objects.get(pk=video.pk).status in (VideoStatus.READY, VideoStatus.FAILED),
        timeout=timeout,
        message=f"video {video.url} processed",
    )
    return Video.objects.get(pk=video.pk)


def _streams(path: Path) -> list[dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)["streams"]


def check_ready(video: Video, source: Path, *, audio: bool = True) -> dict[str, tuple[int, int]]:
    """Every promise of a ready upload; returns each rendition's size."""
    assert video.status == VideoStatus.READY, video.error
    assert video.playable
    layout = HlsLayout(Path(settings.HLS_ROOT))
    master = layout.master(video.url).read_text()
    sizes = {}
    source_video = next(s for s in _streams(source) if s["codec_type"] == "video")
    source_short = min(source_video["width"], source_video["height"])
    lines = master.splitlines()
    for position, line in enumerate(lines):
        if not line.startswith("#EXT-X-STREAM-INF:"):
            continue
        for attribute in ("BANDWIDTH=", "RESOLUTION=", 'CODECS="avc1.'):
            assert attribute in line, line
        assert ("mp4a.40.2" in line) == audio, line
        rendition = lines[position + 1].split("/")[1]
        playlist = layout.variant_playlist(video.url, rendition).read_text()
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        names = [entry for entry in playlist.splitlines() if entry and not entry.startswith("#")]
        assert len(names) == len(set(names)), "a segment is listed twice"
        total = sum(
            float(entry.split(":")[1].split(",")[0])
            for entry in playlist.splitlines()
            if entry.startswith("#EXTINF:")
        )
        assert abs(total - media.duration(source)) <= 1.0, (rendition, total)
        streams = _streams(layout.rendition_dir(video.url, rendition) / names[0])
        codecs = sorted(s["codec_name"] for s in streams)
        assert codecs == (["aac", "h264"] if audio else ["h264"]), codecs
        picture = next(s for s in streams if s["codec_type"] == "video")
        assert min(picture["width"], picture["height"]) <= source_short, "upscaled"
        sizes[rendition] = (picture["width"], picture["height"])
    assert sizes, master
    assert abs(video.duration_seconds - media.duration(source)) <= 1.0
    assert video.thumbnail, "no thumbnail from its own frames"
    assert original_path(video.url).exists()
    assert not (work_folder(video.url) / "pieces").exists()
    return sizes


def test_every_container_and_codec_becomes_adaptive_hls(vod, start_workers, creator, tmp_path):
    files = media.corpus(tmp_path / "corpus")
    start_workers(2)
    videos = {name: upload_file(vod, creator, path) for name, path in files.items()}  # all at once
    for name, video in videos.items():
        done = wait_done(video)
        sizes = check_ready(done, files[name], audio=name != "no-audio")
        if name == "rotated":
            assert sizes["source"] == (240, 320), sizes  # shown upright, as the phone recorded it
        if name == "odd-size":
            assert sizes["source"] == (320, 240), sizes  # even sizes for 4:2:0, never stretched
        # The ladder's 144p below every source larger than it; none for the 192x144 one.
        assert ("144p" in sizes) == (name != "webm-av1"), sizes
    body = requests.get(f"{vod['live']}/api/videos/{videos['mp4'].url}", timeout=10).json()
    assert (body["status"], body["source"], body["playable"]) == ("ready", "upload", True)


def test_a_container_that_lies_about_its_extension_is_processed(vod, start_workers, creator, tmp_path):
    matroska = media.make(tmp_path / "clip.mkv", audio=["-c:a", "libopus"])
    lying = tmp_path / "holiday.mp4"
    matroska.rename(lying)
    start_workers(1)
    check_ready(wait_done(upload_file(vod, creator, lying, filename="holiday.mp4")), lying)


def _assert_failed_without_files(video: Video, words: str) -> None:
    assert video.status == VideoStatus.FAILED
    assert words in video.error, video.error
    assert not video.playable
    layout = HlsLayout(Path(settings.HLS_ROOT))
    assert not layout.master(video.url).exists()
    assert not layout.video_dir(video.url).exists()
    assert not original_path(video.url).parent.exists()


def test_every_refusal_is_a_plain_sentence_and_keeps_no_files(vod, start_workers, creator, tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(200_000))
    text = tmp_path / "notes.mov"
    text.write_text("not a video at all\n" * 1000)
    song = media.make(tmp_path / "song.m4a", audio=["-c:a", "aac"], video=["-vn"])
    picture = tmp_path / "picture.png"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240",
                    "-frames:v", "1", str(picture)], check=True, timeout=30)  # fmt: skip
    whole = media.make(tmp_path / "whole.mp4", seconds=10, extra=["-movflags", "+faststart"])
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    no_index = media.make(tmp_path / "no_index.mp4", seconds=6)  # the index (moov) at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(no_index.read_bytes()[: no_index.stat().st_size * 2 // 3])
    long = media.make(tmp_path / "long.mkv", seconds=32, size="64x48", audio=[])
    huge = media.make(tmp_path / "wide.mp4", seconds=1, size="1920x200", audio=[])
    cases = {
        noise: "not a video",
        text: "not a video",
        song: "no video stream",
        picture: "a picture, not a video",
        truncated: "truncated",
        cut: "truncated",
        long: "longer than",
        huge: "too large",
    }
    start_workers(2)
    videos = {path: upload_file(vod, creator, path) for path in cases}
    for path, words in cases.items():
        _assert_failed_without_files(wait_done(videos[path]), words)


def test_playable_while_processing_and_the_playlist_grows_in_order(vod, start_workers, creator, tmp_path):
    source = media.make(tmp_path / "long.mp4", seconds=24, size="640x360")
    start_workers(1, UPLOAD_X264_PRESET="veryfast")
    video = upload_file(vod, creator, source)
    layout = HlsLayout(Path(settings.HLS_ROOT))
    seen_growing: list[str] = []

    def playable_and_processing() -> bool:
        current = Video.objects.get(pk=video.pk)
        if current.playable and current.status == VideoStatus.PROCESSING:
            seen_growing.append(layout.variant_playlist(video.url, "144p").read_text())
            return True
        return current.status != VideoStatus.PROCESSING

    wait_until(playable_and_processing, timeout=DEADLINE, message="playable while processing")
    assert seen_growing, "the video was never playable before it was ready"
    growing = seen_growing[0]
    assert "#EXT-X-ENDLIST" not in growing
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing
    master = layout.master(video.url).read_text()
    assert "144p/index.m3u8" in master
    for name in ("144p", "source"):  # a player may pick any listed rendition: its playlist is there
        if f"{name}/index.m3u8" in master:
            assert layout.variant_playlist(video.url, name).exists(), name
    final = check_ready(wait_done(video), source)
    assert set(final) == {"144p", "source"}
    ready = layout.variant_playlist(video.url, "144p").read_text()
    assert ready.startswith(growing.split("#EXT-X-PLAYLIST-TYPE")[0])
    growing_segments = [line for line in growing.splitlines() if line.endswith(".ts")]
    assert [line for line in ready.splitlines() if line.endswith(".ts")][
        : len(growing_segments)
    ] == growing_segments


def test_a_worker_killed_mid_piece_only_that_piece_is_redone(vod, start_workers, creator, tmp_path):
    source = media.make(tmp_path / "kill.mp4", seconds=12, size="640x360")
    (first,) = start_workers(1, UPLOAD_X264_PRESET="slow", UPLOAD_PIECE_SECONDS="6")
    video = upload_file(vod, creator, source)

    def running() -> UploadPiece | None:
        return UploadPiece.objects.filter(
            upload__video=video, status=PieceStatus.RUNNING, index__gt=0
        ).first()

    wait_until(lambda: running() is not None, timeout=DEADLINE, message="a piece running")
    victim = running()
    assert victim is not None
    done_before = set(
        UploadPiece.objects.filter(upload__video=video, status=PieceStatus.DONE).values_list("id", flat=True)
    )
    time.sleep(0.5)
    first.kill()
    start_workers(1, UPLOAD_X264_PRESET="slow", UPLOAD_PIECE_SECONDS="6")

    def ready_or_requeued() -> bool:
        # The beat's job (uploads.requeue_stale): a RabbitMQ redelivery may also have done it.
        processing.upload_requeue_stale()
        return Video.objects.get(pk=video.pk).status != VideoStatus.PROCESSING

    wait_until(ready_or_requeued, timeout=DEADLINE, message="the killed piece redone")
    check_ready(wait_done(video), source)
    victim.refresh_from_db()
    assert victim.attempts >= 2, "the killed piece was not run again"
    for piece in UploadPiece.objects.filter(id__in=done_before):
        assert piece.attempts == 1, f"a finished piece was redone: {piece}"


def test_deleting_during_processing_cancels_and_removes_every_file(vod, start_workers, creator, tmp_path):
    source = media.make(tmp_path / "gone.mp4", seconds=24, size="640x360")
    start_workers(1, UPLOAD_X264_PRESET="slow")
    video = upload_file(vod, creator, source)
    wait_until(
        lambda: UploadPiece.objects.filter(upload__video=video, status=PieceStatus.RUNNING).exists(),
        timeout=DEADLINE,
        message="a piece running",
    )
    response = requests.delete(
        f"{vod['live']}/api/user/channel/videos/{video.url}", headers=bearer(creator), timeout=10
    )
    assert response.status_code == 204
    layout = HlsLayout(Path(settings.HLS_ROOT))

    def nothing_left() -> bool:
        return not (
            layout.video_dir(video.url).exists()
            or layout.master(video.url).exists()
            or original_path(video.url).parent.exists()
        )

    wait_until(nothing_left, timeout=60, message="every file of the deleted video removed")
    time.sleep(3)  # a cancelled piece must not bring files back
    assert nothing_left()
    assert not UploadPiece.objects.filter(upload__video_id=video.pk).exists()


def test_redelivered_and_out_of_order_pieces_never_duplicate_segments(vod, creator, tmp_path, monkeypatch):
    """The piece tasks run here, in any order and some twice (a redelivery, a worker that died
    after moving its segments in), on real ffmpeg and PostgreSQL."""
    for name, value in (("TRANSCODE_LADDER", LADDER), ("UPLOAD_PIECE_SECONDS", 3.0),
                        ("UPLOAD_FIRST_PIECE_SECONDS", 1.0), ("UPLOAD_X264_PRESET", "ultrafast")):  # fmt: skip
        monkeypatch.setattr(settings, name, value)
    source = media.make(tmp_path / "again.mp4", seconds=8)
    video = upload_file(vod, creator, source)  # no worker: nothing processes it but this test
    queued: list[int] = []
    monkeypatch.setattr(processing, "_queue_piece", queued.append)
    assert processing.upload_process(video_id=video.pk) == processing.Outcome.PLANNED
    rows = {row.id: row for row in UploadPiece.objects.filter(upload__video=video)}
    quick, *others = (rows[piece_id] for piece_id in queued)
    assert (quick.index, quick.quick, quick.renditions) == (0, True, ["144p"])
    assert [(row.index, row.renditions) for row in others] == [
        (0, ["source"]),
        (1, ["144p", "source"]),
        (2, ["144p", "source"]),
    ]
    layout = HlsLayout(Path(settings.HLS_ROOT))

    assert processing.upload_piece_run(piece_id=quick.id) == processing.Outcome.DONE
    assert Video.objects.get(pk=video.pk).playable
    master = layout.master(video.url).read_text()
    assert "144p/index.m3u8" in master
    assert "source/index.m3u8" not in master
    first = layout.variant_playlist(video.url, "144p").read_text()

    last = others[-1]
    assert processing.upload_piece_run(piece_id=last.id) == processing.Outcome.DONE
    assert layout.variant_playlist(video.url, "144p").read_text() == first  # never past a missing piece
    UploadPiece.objects.filter(pk=last.id).update(status=PieceStatus.PENDING)  # died before it was marked
    assert processing.upload_piece_run(piece_id=last.id) == processing.Outcome.DONE
    assert processing.upload_piece_run(piece_id=others[0].id) == processing.Outcome.DONE
    # The first piece has every rendition now: the master lists the whole ladder while it grows.
    assert Video.objects.get(pk=video.pk).status == VideoStatus.PROCESSING
    master = layout.master(video.url).read_text()
    assert master.index("source/index.m3u8") < master.index("144p/index.m3u8")  # the highest first
    growing = layout.variant_playlist(video.url, "source").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing
    assert {line.split("_")[1] for line in growing.splitlines() if line.endswith(".ts")} == {"p0000"}
    assert processing.upload_piece_run(piece_id=others[0].id) == processing.Outcome.ALREADY_DONE
    assert processing.upload_piece_run(piece_id=others[1].id) == processing.Outcome.DONE
    assert processing.upload_piece_run(piece_id=others[1].id) == processing.Outcome.CANCELLED  # ready

    sizes = check_ready(Video.objects.get(pk=video.pk), source)
    assert set(sizes) == {"144p", "source"}
    for rendition in sizes:
        playlist = layout.variant_playlist(video.url, rendition).read_text()
        listed = [line for line in playlist.splitlines() if line.endswith(".ts")]
        on_disk = sorted(path.name for path in layout.rendition_dir(video.url, rendition).glob("*.ts"))
        assert sorted(listed) == on_disk, rendition
        assert {name.split("_")[1] for name in listed} == {"p0000", "p0001", "p0002"}
    attempts = dict(UploadPiece.objects.filter(upload__video=video).values_list("id", "attempts"))
    assert attempts == {quick.id: 1, others[0].id: 1, others[1].id: 1, last.id: 2}
    assert not list((work_folder(video.url) / "out").glob("*"))  # no scratch folder left
