"""LiveTranscode with the real ffmpeg: FLV files played tag by tag into it, HLS checked with ffprobe."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tidecast_common import flv
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder.live import LiveTranscode
from transcoder.supervisor import ProcessExit

URL = "abcdefgh12345678"
pytestmark = pytest.mark.integration


async def play(
    transcode: LiveTranscode,
    path: Path,
    *,
    pace: float | None = None,
    metadata: dict[str, object] | None = None,
    on_tag: Callable[[int], None] | None = None,
) -> None:
    """Feed a file's tags; `pace` is how many times real time (None: as fast as ffmpeg takes them)."""
    await transcode.on_metadata(metadata or {})
    started = time.monotonic()
    data = await asyncio.to_thread(path.read_bytes)
    for item in flv.iter_tags(data):
        if item.tag_type == flv.TAG_SCRIPT:
            continue
        if pace is not None:
            delay = item.timestamp_ms / 1000 / pace - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
        await transcode.feed(item.tag_type, item.timestamp_ms, item.payload)
        if on_tag is not None:
            on_tag(item.timestamp_ms)


def probe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height:format=duration",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(result.stdout)


def master_resolutions(root: Path) -> dict[str, str]:
    text = (root / f"{URL}.m3u8").read_text()
    found = re.findall(
        r"RESOLUTION=(\d+x\d+),.*CODECS=\"avc1\.\w+,mp4a\.40\.2\"\n" + URL + r"/(\w+)/index\.m3u8", text
    )
    assert text.count("#EXT-X-STREAM-INF:BANDWIDTH=") == len(found)
    return {name: resolution for resolution, name in found}


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_1080p_source_becomes_four_playable_renditions_and_a_recording(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = flv_factory(width=1920, height=1080, seconds=6)
    transcode = LiveTranscode(video_url=URL, ladder=DEFAULT_VARIANTS, hls_root=tmp_path, preset="ultrafast")
    await play(
        transcode, source, metadata={"framerate": 30.0, "videodatarate": 1500.0, "audiodatarate": 96.0}
    )
    pid = transcode.pid
    assert pid is not None
    await transcode.stop()

    expected = {"source": "1920x1080", "720p": "1280x720", "480p": "854x480", "360p": "640x360"}
    assert master_resolutions(tmp_path) == expected
    for name, resolution in expected.items():
        playlist = tmp_path / URL / name / "index.m3u8"
        assert playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
        info = probe(playlist)
        streams = {s["codec_type"]: s for s in info["streams"]}  # type: ignore[attr-defined]
        assert streams["video"]["codec_name"] == "h264"
        assert f"{streams['video']['width']}x{streams['video']['height']}" == resolution
        assert streams["audio"]["codec_name"] == "aac"
        assert abs(float(info["format"]["duration"]) - 6.0) <= 2.0  # type: ignore[index]
    assert process_gone(pid)
    assert transcode.stats()["running"] == 0.0


async def test_480p_source_gets_no_720p_and_sizes_come_from_the_sps(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = flv_factory(width=854, height=480, seconds=4)
    transcode = LiveTranscode(video_url=URL, ladder=DEFAULT_VARIANTS, hls_root=tmp_path, preset="ultrafast")
    await play(transcode, source)  # no metadata at all
    await transcode.stop()
    assert master_resolutions(tmp_path) == {"source": "854x480", "360p": "640x360"}
    assert not (tmp_path / URL / "720p").exists()


def video_format(path: Path) -> dict[str, object]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,profile,pix_fmt,level,width,height", "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(result.stdout)["streams"][0]  # type: ignore[no-any-return]


async def test_a_source_browsers_cannot_decode_is_re_encoded_as_8_bit_420_high(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    # What GStreamer's x264enc publishes by default from a 4:4:4 picture: High 4:4:4 Predictive 10-bit.
    source = flv_factory(width=854, height=480, seconds=4, pix_fmt="yuv444p10le")
    published = video_format(source)
    assert (published["profile"], published["pix_fmt"]) == ("High 4:4:4 Predictive", "yuv444p10le")
    # The default preset, as the ingest runs it (ultrafast would leave x264 at Baseline).
    transcode = LiveTranscode(video_url=URL, ladder=DEFAULT_VARIANTS, hls_root=tmp_path)
    await play(transcode, source, metadata={"videodatarate": 1500.0})
    await transcode.stop()

    assert not transcode.renditions[0].copy_video
    written = video_format(tmp_path / URL / "source" / "index.m3u8")
    assert (written["codec_name"], written["profile"], written["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (written["width"], written["height"]) == (854, 480)
    text = (tmp_path / f"{URL}.m3u8").read_text()
    codecs = dict(re.findall(r'CODECS="(avc1\.\w+),mp4a\.40\.2"\n' + URL + r"/(\w+)/", text))
    assert set(codecs.values()) == {"source", "360p"}
    source_tag = next(tag for tag, name in codecs.items() if name == "source")
    assert source_tag == f"avc1.6400{written['level']:02x}"  # what was written: High at its level
    assert re.fullmatch(r"avc1\.(64|4d|42)[0-9a-f]{4}", source_tag)
    assert "avc1.f4" not in text
    assert master_resolutions(tmp_path) == {"source": "854x480", "360p": "640x360"}


async def test_ffmpeg_killed_mid_stream_restarts_with_a_discontinuity(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = flv_factory(width=640, height=360, seconds=10)
    exits: list[ProcessExit] = []
    transcode = LiveTranscode(
        video_url=URL,
        ladder=[{"name": "240p", "height": 240, "video_kbps": 400, "audio_kbps": 64, "profile": "baseline"}],
        hls_root=tmp_path,
        preset="ultrafast",
        on_exit=exits.append,
    )
    killed: dict[str, float] = {}

    def kill_once_then_time_the_restart(timestamp_ms: int) -> None:
        pid = transcode.pid
        if "pid" not in killed and timestamp_ms >= 4500 and pid is not None:
            killed.update(pid=pid, at=time.monotonic())
            os.kill(pid, signal.SIGKILL)
        elif "pid" in killed and "restarted" not in killed and pid not in (None, killed["pid"]):
            killed["restarted"] = time.monotonic() - killed["at"]

    await play(transcode, source, pace=2.0, on_tag=kill_once_then_time_the_restart)
    await transcode.stop()

    assert killed["restarted"] < 2.0
    assert transcode.stats()["restarts"] == 1.0
    assert [(e.returncode, e.outcome) for e in exits] == [(-signal.SIGKILL, "restarting"), (0, "stopped")]
    for name in ("source", "240p"):
        text = (tmp_path / URL / name / "index.m3u8").read_text()
        before, _, after = text.partition("#EXTINF")[2].partition("#EXT-X-DISCONTINUITY")
        assert "#EXT-X-DISCONTINUITY" not in text.partition("#EXTINF")[0], text  # the top left as it was
        assert "seg_" in before, text
        assert after.count("#EXTINF") >= 2, text
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        segments = re.findall(r"seg_(\d+)\.m4s", text)
        assert segments == sorted(set(segments))  # numbering continued, nothing overwritten
    assert master_resolutions(tmp_path) == {"source": "640x360", "240p": "426x240"}
    assert process_gone(int(killed["pid"]))


CHILD = """
import asyncio, os, sys
from pathlib import Path
from tidecast_common import flv
from transcoder import codecs
from transcoder.live import LiveTranscode

async def main():
    transcode = LiveTranscode(video_url="abcdefgh12345678", ladder=[], hls_root=sys.argv[2])
    for item in flv.iter_tags(Path(sys.argv[1]).read_bytes()):
        if item.tag_type != flv.TAG_SCRIPT:
            await transcode.feed(item.tag_type, item.timestamp_ms, item.payload)
        if transcode.pid and item.timestamp_ms > 1000:
            break
    print(transcode.pid, flush=True)
    await asyncio.sleep(60)  # killed here, with ffmpeg waiting for more input

asyncio.run(main())
"""


def test_no_ffmpeg_outlives_a_killed_ingest(flv_factory: Callable[..., Path], tmp_path: Path) -> None:
    source = flv_factory(width=640, height=360, seconds=3)
    ingest = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert ingest.stdout is not None
        ffmpeg_pid = int(ingest.stdout.readline())
        assert not process_gone(ffmpeg_pid)
    finally:
        ingest.kill()
        ingest.wait(timeout=10)
    deadline = time.monotonic() + 5
    while not process_gone(ffmpeg_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The orphan is reparented to init (or a subreaper) which reaps it; a zombie would still be "there".
    assert process_gone(ffmpeg_pid) or Path(f"/proc/{ffmpeg_pid}/stat").read_text().split()[2] == "Z"
