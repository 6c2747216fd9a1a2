"""An ingest killed with SIGKILL (no shutdown, no end reported): its live videos still end once the
heartbeat timeout has passed (the beat's `videos.end_stale_live`), and the channel publishes again
at once after that. Its recording stays closed and playable.

The real stack of test_pipeline.py: `python -m rtmp_ingest` transcoding, `python -m hls_out`, the API.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as DjangoSettings

from tests.integration import test_pipeline as pipeline_tests
from tests.integration.conftest import Publisher, Streamer
from tests.integration.stack import Service, ingest_environment, processes_mentioning, segment_uris
from tests.integration.test_pipeline import ENDLIST, Pipeline
from tests.netutil import free_port, wait_until
from workers.tasks import videos_end_stale_live

# The real stack's fixtures, shared with the pipeline tests.
hls_root = pipeline_tests.hls_root
pipeline = pipeline_tests.pipeline
small_ladder = pipeline_tests.small_ladder
start_service = pipeline_tests.start_service

HEARTBEAT_TIMEOUT_SECONDS = 4
BEAT_SECONDS = 0.5  # how often this test runs the beat's task


def publish_then_kill_the_ingest(pipeline: Pipeline, streamer: Streamer, publishers: list[Publisher]) -> str:
    """A live, transcoded stream, then SIGKILL to its ingest; the video's url."""
    publisher = pipeline.publish(streamer, seconds=60, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video(streamer.channel.name)  # type: ignore[attr-defined]
    variants = pipeline.wait_master(video_url)
    pipeline.wait_playlists(variants, lambda text: len(segment_uris(text)) >= 1, timeout=15)
    pipeline.ingest.process.send_signal(signal.SIGKILL)
    assert pipeline.ingest.wait(5) == -signal.SIGKILL
    # Its ffmpeg is told by the kernel (parent-death signal) and goes too.
    assert wait_until(lambda: processes_mentioning(video_url) == [], timeout=10)
    publisher.wait(10)  # the publisher lost its connection
    return video_url


def test_a_sigkilled_ingest_ends_its_video_and_the_channel_publishes_again(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    small_ladder: None,
    settings: DjangoSettings,
    start_service: Callable[..., Service],
    tmp_path: Path,
) -> None:
    settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS = HEARTBEAT_TIMEOUT_SECONDS
    streamer = make_streamer("crashed")
    video_url = publish_then_kill_the_ingest(pipeline, streamer, publishers)
    killed_at = time.monotonic()
    assert pipeline.video_status(video_url) == "live"  # nobody told the API

    def ended_by_the_beat() -> bool:
        videos_end_stale_live()
        return pipeline.video_status(video_url) == "ended"

    assert wait_until(ended_by_the_beat, timeout=HEARTBEAT_TIMEOUT_SECONDS + 3, interval=BEAT_SECONDS)
    ended_after = time.monotonic() - killed_at
    assert ended_after <= HEARTBEAT_TIMEOUT_SECONDS + 3, f"ended {ended_after:.1f} s after the kill"

    rtmp_port = free_port()
    restarted = start_service(
        module="rtmp_ingest",
        port=rtmp_port,
        env=ingest_environment(
            port=rtmp_port,
            api_base_url=pipeline.api_base_url,
            secret=django_settings.INGEST_SHARED_SECRET,
            data_dir=tmp_path,
            hls_root=pipeline.hls_root,
        ),
        log=tmp_path / "rtmp_ingest_restarted.log",
    )
    again = Pipeline(
        api_base_url=pipeline.api_base_url,
        ingest=restarted,
        hls=pipeline.hls,
        hls_root=pipeline.hls_root,
        services=[pipeline.hls, restarted],
    )
    second = again.publish(streamer, seconds=3, size="640x360")
    publishers.append(second)
    new_url = again.wait_live_video("crashed", timeout=5)  # at once: the stale video is out of the way
    assert new_url != video_url
    code, _ = second.wait(20)
    assert code == 0, second.stderr()
    again.wait_status(new_url, "ended")


def test_a_sigkilled_ingest_leaves_its_recording_closed_and_playable(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    small_ladder: None,
) -> None:
    video_url = publish_then_kill_the_ingest(pipeline, make_streamer("crashed"), publishers)
    variants = pipeline.wait_master(video_url)
    for entry in variants:
        playlist = pipeline.playlist(entry)
        assert segment_uris(playlist), f"{entry.uri} lost its segments"
        assert playlist.rstrip().endswith(ENDLIST), entry.uri
