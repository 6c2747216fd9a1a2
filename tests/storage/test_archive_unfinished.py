"""A recording a dead transcoder left open (no #EXT-X-ENDLIST), caught up by the archiver when the
node comes back, against a real SeaweedFS. The folder is made by the real packager
(`python -m transcoder.package`, real ffmpeg) killed with SIGKILL mid-stream, as a node dying
leaves it; the archiver closes it once the API says the video ended, or once it has been idle
long enough, and the recording in the bucket is the one the transcoder would have closed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.netutil import wait_until
from tests.seaweed import SeaweedServer
from tests.storage.test_archive import archive_settings, wait_for
from tidecast_common.layout import HlsLayout
from tidecast_common.object_store import master_key, video_prefix
from transcoder.archive import STORED_MARKER, LiveArchiver, master_keeping, playlist_files
from transcoder.ladder import Rendition
from transcoder.package import PackageSpec
from transcoder.playlists import ENDLIST, closed_playlist, master_playlist

ENDED_URL = "endedbyapi123456"  # the API says its video has ended
IDLE_URL = "idlefolder123456"  # the API says live (or cannot be asked): closed once idle
IDLE_SECONDS = 3.0
RENDITIONS = (
    Rendition(name="source", width=320, height=180, gop=30, copy_video=True, video_kbps=800,
              maxrate_kbps=880, bufsize_kbps=1600, audio_kbps=96, profile="baseline", level="3.0"),
    Rendition(name="90p", width=160, height=90, gop=30, copy_video=False, video_kbps=150,
              maxrate_kbps=165, bufsize_kbps=300, audio_kbps=64, profile="baseline", level="3.0"),
)  # fmt: skip


def master_text(video_url: str) -> str:
    return master_playlist(
        video_url=video_url, renditions=RENDITIONS, fps=30.0, source_codec_tag="avc1.42c01e",
        audio_codec_tag="mp4a.40.2",
    )  # fmt: skip


def killed_packager_folder(layout: HlsLayout, video_url: str, tmp_path: Path) -> None:
    """The real packager fed a stream that does not end, SIGKILLed once every rendition has a few
    segments: playlists without #EXT-X-ENDLIST, parts and an open segment left behind."""
    source = tmp_path / "source.flv"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "5", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-c:a", "aac", "-b:a", "64k",
         "-f", "flv", str(source)], check=True, timeout=60,
    )  # fmt: skip
    spec = PackageSpec(
        output_dir=str(layout.video_dir(video_url)), renditions=RENDITIONS, segment_seconds=1,
        part_seconds=0.5, fps=30.0, has_audio=True, copy_audio=True, preset="ultrafast",
        ffmpeg_binary="ffmpeg", restart=False,
    )  # fmt: skip
    packager = subprocess.Popen(
        [sys.executable, "-m", "transcoder.package", spec.to_json()], stdin=subprocess.PIPE,
        stderr=(tmp_path / "packager.log").open("wb"), start_new_session=True,
    )  # fmt: skip
    assert packager.stdin is not None
    packager.stdin.write(source.read_bytes())
    packager.stdin.flush()  # and left open: the stream goes on as far as the packager knows

    def segments_everywhere() -> bool:
        texts = [layout.variant_playlist(video_url, r.name) for r in RENDITIONS]
        return all(p.exists() and len(playlist_files(p.read_text())) >= 3 for p in texts)

    try:
        assert wait_until(segments_everywhere, timeout=60), (tmp_path / "packager.log").read_text()
    finally:
        os.killpg(packager.pid, signal.SIGKILL)  # the node dies: packager and ffmpeg at once
        packager.wait(10)
        packager.stdin.close()
    layout.master(video_url).write_text(master_text(video_url))  # the ingest had written it


def test_a_master_keeps_only_the_variants_that_have_a_playlist() -> None:
    text = master_text(ENDED_URL)
    kept = master_keeping(text, video_url=ENDED_URL, present={"90p"})
    assert "source/index.m3u8" not in kept
    assert f"{ENDED_URL}/90p/index.m3u8" in kept
    assert kept.count("#EXT-X-STREAM-INF:") == 1
    assert master_keeping(text, video_url=ENDED_URL, present={"source", "90p"}) == text
    assert master_keeping(text, video_url=ENDED_URL, present=set()) == text  # nothing to play: as it was


@pytest.mark.integration
async def test_a_folder_a_dead_transcoder_left_open_is_closed_and_stored_as_a_recording(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    layout = HlsLayout(tmp_path / "hls")
    await asyncio.to_thread(killed_packager_folder, layout, ENDED_URL, tmp_path)
    left: dict[str, str] = {}
    for rendition in RENDITIONS:
        text = layout.variant_playlist(ENDED_URL, rendition.name).read_text()
        assert ENDLIST not in text
        assert "#EXT-X-PART:" in text
        left[rendition.name] = text
    shutil.copytree(layout.video_dir(ENDED_URL), layout.video_dir(IDLE_URL))
    layout.master(IDLE_URL).write_text(master_text(IDLE_URL))

    asked: list[str] = []
    reported: dict[str, float] = {}

    async def is_ended(video_url: str) -> bool | None:
        asked.append(video_url)
        return {ENDED_URL: True, IDLE_URL: False}.get(video_url)

    async def stored(video_url: str) -> bool:
        reported.setdefault(video_url, time.time())
        return True

    settings = replace(
        archive_settings(seaweed, grace=60),
        unfinished_idle_seconds=IDLE_SECONDS,
        unfinished_check_seconds=0.3,
    )
    archiver = LiveArchiver(settings=settings, hls_root=layout.root, on_stored=stored, is_ended=is_ended)
    # Idle since what the archiver looks at last changed (the copy keeps the dead folder's times):
    # the folder, the master, the folder's entries and the renditions' playlists.
    folder = layout.video_dir(IDLE_URL)
    watched = [folder, layout.master(IDLE_URL), *folder.iterdir(), *folder.glob("*/*.m3u8")]
    for path in watched:  # touched now: left alone for IDLE_SECONDS from here, however slow the set-up
        os.utime(path)
    idle_since = max(path.stat().st_mtime for path in watched)
    started = time.time()
    await archiver.start()
    try:
        assert await wait_for(lambda: set(reported) == {ENDED_URL, IDLE_URL}, within=30)
    finally:
        await archiver.close()
    assert reported[ENDED_URL] - started < IDLE_SECONDS  # on the API's word, not the idle time
    # Left alone while the API said live, until idle that long (mtimes: up to a tick early).
    assert reported[IDLE_URL] - idle_since >= IDLE_SECONDS - 0.05
    assert IDLE_URL in asked

    store = seaweed.store()
    for video_url in (ENDED_URL, IDLE_URL):
        assert (layout.video_dir(video_url) / STORED_MARKER).exists()
        keys = {item.key for item in store.list_prefix(video_prefix(video_url))}
        assert store.get_bytes(master_key(video_url), max_bytes=1 << 20) == master_text(video_url).encode()
        for rendition in RENDITIONS:
            key = f"{video_prefix(video_url)}{rendition.name}/index.m3u8"
            text = (store.get_bytes(key, max_bytes=1 << 20) or b"").decode()
            assert text == closed_playlist(left[rendition.name])  # as the transcoder closes one
            assert text.rstrip().endswith(ENDLIST)
            assert "#EXT-X-PART" not in text
            names = playlist_files(text)
            assert len(names) >= 4  # the init segment and the segments listed when it died
            assert all(f"{video_prefix(video_url)}{rendition.name}/{name}" in keys for name in names)

    # what the bucket holds plays as a whole recording
    await asyncio.to_thread(check_plays_from_the_bucket, seaweed, tmp_path / "from-store", left["90p"])


def check_plays_from_the_bucket(seaweed: SeaweedServer, copy: Path, open_playlist: str) -> None:
    """The recording's objects copied out of the bucket play whole (ffprobe), as long as listed."""
    store = seaweed.store()
    for item in store.list_prefix(f"hls/{ENDED_URL}"):
        target = copy / item.key.removeprefix("hls/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get_bytes(item.key, max_bytes=1 << 26) or b"")
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_entries", "format=duration:stream=codec_type",
         str(copy / f"{ENDED_URL}.m3u8")], capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert probed.returncode == 0, probed.stderr.decode(errors="replace")
    info = json.loads(probed.stdout)
    listed = sum(
        float(line.split(":", 1)[1].split(",", 1)[0])
        for line in closed_playlist(open_playlist).splitlines()  # type: ignore[union-attr]
        if line.startswith("#EXTINF:")
    )
    assert float(info["format"]["duration"]) == pytest.approx(listed, abs=0.5)
    assert {stream["codec_type"] for stream in info["streams"]} >= {"video", "audio"}
