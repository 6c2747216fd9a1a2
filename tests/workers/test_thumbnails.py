"""Video thumbnails: resizing an upload, and live previews grabbed from HLS segments with real ffmpeg."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from api.channels.models import Channel
from api.videos import thumbnails
from api.videos.models import Video, VideoStatus
from api.videos.thumbnails import ThumbnailOutcome
from tests.factories import UserFactory
from tests.workers import pictures

VIDEO_URL = "abcdefgh12345678"


@pytest.fixture(autouse=True)
def folders(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.HLS_ROOT = tmp_path / "hls"
    cache.clear()
    return tmp_path


@pytest.fixture
def video(db) -> Video:
    channel = Channel.objects.create(
        owner=UserFactory(),
        name="river",
        title="River",
        stream_key_hash="0" * 64,
        stream_key_ciphertext="x",
        stream_key_prefix="tc_",
        stream_key_rotated_at=timezone.now(),
    )
    return Video.objects.create(channel=channel, url=VIDEO_URL, title="Live", status=VideoStatus.LIVE)


def make_segment(path: Path, *, size: str, color: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"color=c={color}:size={size}:rate=25",
            "-t", "0.4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-f", "mpegts", str(path),
        ],
        check=True,
        timeout=30,
    )  # fmt: skip


def write_playlist(folder: Path, segments: list[str]) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"]
    for name in segments:
        lines += ["#EXTINF:2.0,", name]
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")


@pytest.fixture
def live_hls(folders) -> Path:
    root = folders / "hls" / VIDEO_URL
    make_segment(root / "720p" / "seg_00000.ts", size="1280x720", color="red")
    make_segment(root / "360p" / "seg_00000.ts", size="640x360", color="green")
    make_segment(root / "360p" / "seg_00001.ts", size="640x360", color="blue")
    # A segment still being written: on disk, newer, but not yet in the playlist.
    (root / "360p" / "seg_00002.ts").write_bytes(b"\x47" * 100)
    write_playlist(root / "360p", ["seg_00000.ts", "seg_00001.ts"])
    return root


def test_newest_listed_segment_of_the_lowest_rendition_is_chosen(live_hls):
    assert thumbnails.live_segment_newest(video_url=VIDEO_URL) == live_hls / "360p" / "seg_00001.ts"
    (live_hls / "360p" / "index.m3u8").unlink()
    assert thumbnails.live_segment_newest(video_url=VIDEO_URL) == live_hls / "360p" / "seg_00002.ts"


@pytest.mark.parametrize("bad_url", ["../etc", "ABC", "a/b", ""])
def test_only_video_urls_make_paths(bad_url):
    assert thumbnails.live_segment_newest(video_url=bad_url) is None


def test_frame_grab_argv_is_a_fixed_list():
    argv = thumbnails.live_frame_grab_command(segment=Path("/hls/x/360p/seg_00001.ts"))
    assert argv[0] == "ffmpeg"
    assert argv[argv.index("-i") + 1] == "/hls/x/360p/seg_00001.ts"
    assert argv[argv.index("-frames:v") + 1] == "1"
    assert argv[-1] == "pipe:1"


def make_fmp4_run(folder: Path, *, init: str, segment: str, size: str, color: str) -> None:
    """One transcoder run's init segment and first fMP4 segment, as ffmpeg's HLS muxer writes them."""
    scratch = folder / f"run-{init}"
    scratch.mkdir(parents=True)
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"color=c={color}:size={size}:rate=25",
            "-t", "0.4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-f", "hls", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(scratch / "seg_%d.m4s"), str(scratch / "index.m3u8"),
        ],
        check=True,
        timeout=30,
    )  # fmt: skip
    (scratch / "init.mp4").rename(folder / init)
    (scratch / "seg_0.m4s").rename(folder / segment)


def test_a_segment_after_a_transcoder_restart_is_read_with_its_own_init_segment(video, folders):
    folder = folders / "hls" / VIDEO_URL / "360p"
    make_fmp4_run(folder, init="init.mp4", segment="seg_00000.m4s", size="640x360", color="green")
    make_fmp4_run(folder, init="init_1.mp4", segment="seg_00001.m4s", size="320x180", color="blue")
    (folder / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:0.4,\nseg_00000.m4s\n'
        '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1.mp4"\n#EXTINF:0.4,\nseg_00001.m4s\n'
    )
    assert thumbnails.segment_init(folder / "seg_00000.m4s") == folder / "init.mp4"
    assert thumbnails.segment_init(folder / "seg_00001.m4s") == folder / "init_1.mp4"

    assert thumbnails.video_live_thumbnail_capture(video_id=video.pk) == ThumbnailOutcome.DONE
    video.refresh_from_db()
    with Image.open(folders / "media" / video.live_thumbnail.name) as image:
        assert image.size == (320, 180)  # the restarted run's picture, decoded with init_1.mp4
        assert image.convert("RGB").getpixel((160, 90))[2] > 180


def test_without_a_playlist_the_newest_init_segment_is_used(folders):
    folder = folders / "hls" / VIDEO_URL / "360p"
    make_fmp4_run(folder, init="init.mp4", segment="seg_00000.m4s", size="640x360", color="green")
    make_fmp4_run(folder, init="init_1.mp4", segment="seg_00001.m4s", size="320x180", color="blue")
    assert thumbnails.segment_init(folder / "seg_00001.m4s") == folder / "init_1.mp4"
    assert thumbnails.segment_init(folder / "seg_00001.ts") is None


def test_live_capture_stores_a_jpeg_and_replaces_the_previous_one(video, live_hls, folders):
    assert thumbnails.video_live_thumbnail_capture(video_id=video.pk) == ThumbnailOutcome.DONE
    video.refresh_from_db()
    first = video.live_thumbnail.name
    with Image.open(folders / "media" / first) as image:
        assert (image.format, image.size) == ("JPEG", (640, 360))
        red, _, blue = image.convert("RGB").getpixel((320, 180))
    assert blue > 180  # the newest complete segment (blue), not the older green one
    assert red < 60

    assert thumbnails.video_live_thumbnail_capture(video_id=video.pk) == ThumbnailOutcome.DONE
    video.refresh_from_db()
    assert video.live_thumbnail.name != first
    assert not (folders / "media" / first).exists()


def test_the_last_preview_stays_after_the_stream_ends(video, live_hls):
    thumbnails.video_live_thumbnail_capture(video_id=video.pk)
    Video.objects.filter(pk=video.pk).update(status=VideoStatus.ENDED)
    assert thumbnails.video_live_thumbnail_capture(video_id=video.pk) == ThumbnailOutcome.SKIPPED
    video.refresh_from_db()
    assert video.live_thumbnail.name


def test_a_broken_segment_fails_cleanly(video, folders):
    folder = folders / "hls" / VIDEO_URL / "360p"
    folder.mkdir(parents=True)
    (folder / "seg_00000.ts").write_bytes(b"not a transport stream")
    assert thumbnails.video_live_thumbnail_capture(video_id=video.pk) == ThumbnailOutcome.FAILED
    video.refresh_from_db()
    assert not video.live_thumbnail


def test_schedule_is_rate_limited_per_video(video, worker_setup):
    assert thumbnails.live_thumbnail_schedule_if_due(video_id=video.pk) is True
    assert thumbnails.live_thumbnail_schedule_if_due(video_id=video.pk) is False
    assert thumbnails.live_thumbnail_schedule_if_due(video_id=video.pk + 1) is True


def test_uploaded_thumbnail_is_resized_and_the_original_removed(video, folders):
    source = default_storage.save(
        f"thumbnails/{VIDEO_URL}.png", ContentFile(pictures.solid("PNG", size=(1920, 1080)))
    )
    Video.objects.filter(pk=video.pk).update(thumbnail=source)
    assert thumbnails.video_thumbnail_resize(video_id=video.pk, source=source) == ThumbnailOutcome.DONE
    video.refresh_from_db()
    large = video.thumbnail.name
    small = thumbnails.video_thumbnail_small_name(name=large)
    for name, size in ((large, (1280, 720)), (small, (320, 180))):
        with Image.open(io.BytesIO((folders / "media" / name).read_bytes())) as image:
            assert (image.format, image.size) == ("WEBP", size)
    assert not (folders / "media" / source).exists()
    assert (
        thumbnails.video_thumbnail_resize(video_id=video.pk, source=source) == ThumbnailOutcome.ALREADY_DONE
    )


def test_a_replaced_thumbnail_is_not_resized(video):
    Video.objects.filter(pk=video.pk).update(thumbnail="thumbnails/newer.png")
    assert (
        thumbnails.video_thumbnail_resize(video_id=video.pk, source="thumbnails/older.png")
        == ThumbnailOutcome.SUPERSEDED
    )
