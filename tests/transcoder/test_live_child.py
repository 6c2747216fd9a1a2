"""LiveTranscode with stand-in ffmpeg scripts: what the child inherits, and the failure signal."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rtmp_ingest.__main__ import sink_factory
from rtmp_ingest.api_client import PublishGrant
from rtmp_ingest.settings import IngestSettings
from tidecast_common import flv
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder.live import LiveTranscode, TranscodeFailed
from transcoder.settings import CHILD_ENVIRONMENT_NAMES, TranscoderSettings
from transcoder.supervisor import ExitOutcome, ProcessExit, ProcessLimits

URL = "abcdefgh12345678"


def fake_ffmpeg(folder: Path, body: str) -> Path:
    script = folder / "ffmpeg"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


async def feed_file(transcode: LiveTranscode, path: Path) -> None:
    await transcode.on_metadata({"framerate": 30.0})
    for item in flv.iter_tags(await asyncio.to_thread(path.read_bytes)):
        if item.tag_type != flv.TAG_SCRIPT:
            await transcode.feed(item.tag_type, item.timestamp_ms, item.payload)


async def feed_until_refused(transcode: LiveTranscode, path: Path) -> None:
    """The file again and again, as a publisher goes on sending, until `feed` raises."""
    for _ in range(100):
        await feed_file(transcode, path)
        await asyncio.sleep(0.1)


async def test_ffmpeg_from_the_ingest_sees_none_of_its_secrets(
    flv_factory: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = flv_factory(width=640, height=360, seconds=1)
    dump = tmp_path / "environ"
    # /proc/<pid>/environ is what the script was started with, before the shell adds anything.
    ffmpeg = fake_ffmpeg(tmp_path, f'tr "\\0" "\\n" < /proc/$$/environ > "{dump}"\nexec cat > /dev/null')
    for name, value in {"INGEST_SHARED_SECRET": "ingest-secret", "SECRET_KEY": "django-secret",
                        "JWT_SIGNING_KEY": "jwt-secret", "TZ": "UTC"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = IngestSettings(
        shared_secret="ingest-secret",
        hls_root=tmp_path / "hls",
        ffmpeg=str(ffmpeg),
        transcoder=TranscoderSettings.from_env(os.environ),
    )
    grant = PublishGrant(publish_id="1", video_url=URL, channel="c", ladder=DEFAULT_VARIANTS,
                         segment_seconds=2, heartbeat_interval=2.0)  # fmt: skip
    sink = sink_factory(settings)(grant)
    assert isinstance(sink, LiveTranscode)
    await feed_file(sink, source)
    await sink.stop()

    environment = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert set(environment) <= set(CHILD_ENVIRONMENT_NAMES)
    assert environment["PATH"] == os.environ["PATH"]
    assert environment["TZ"] == "UTC"
    assert "secret" not in dump.read_text()


async def test_an_ffmpeg_that_keeps_dying_fails_the_stream_and_feed_says_so(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = flv_factory(width=640, height=360, seconds=4, gop=15)
    ffmpeg = fake_ffmpeg(tmp_path, "echo 'Invalid data found when processing input' >&2\nexit 1")
    exits: list[ProcessExit] = []
    settings = TranscoderSettings(limits=ProcessLimits(max_restarts=2, restart_pause_seconds=0.05))
    transcode = LiveTranscode(
        video_url=URL,
        ladder=[],
        hls_root=tmp_path,
        ffmpeg=str(ffmpeg),
        on_exit=exits.append,
        settings=settings,
    )
    with pytest.raises(TranscodeFailed):
        await feed_until_refused(transcode, source)
    assert transcode.failed
    assert [e.outcome for e in exits] == [ExitOutcome.RESTARTING, ExitOutcome.RESTARTING, ExitOutcome.FAILED]
    assert exits[-1].returncode == 1
    assert exits[-1].stderr_tail[-1] == "Invalid data found when processing input"
    assert transcode.stats()["running"] == 0.0
    await transcode.stop()  # the ingest still stops the sink: harmless after the failure
    assert len(exits) == 3


async def test_a_missing_ffmpeg_fails_at_the_first_keyframe(
    flv_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = flv_factory(width=640, height=360, seconds=1)
    exits: list[ProcessExit] = []
    transcode = LiveTranscode(
        video_url=URL, ladder=[], hls_root=tmp_path, ffmpeg=str(tmp_path / "no-ffmpeg"), on_exit=exits.append
    )
    header, keyframe = [t for t in flv.iter_tags(source.read_bytes()) if t.tag_type == flv.TAG_VIDEO][:2]
    await transcode.feed(header.tag_type, header.timestamp_ms, header.payload)
    assert not transcode.failed
    with pytest.raises(TranscodeFailed):
        await transcode.feed(keyframe.tag_type, keyframe.timestamp_ms, keyframe.payload)
    assert transcode.failed
    assert [(e.returncode, e.outcome) for e in exits] == [(None, ExitOutcome.FAILED)]
