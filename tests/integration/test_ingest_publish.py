"""Real ffmpeg publishing to the real ingest, authorized by the real API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

from api.channels.services import channel_stream_key_rotate
from api.videos.models import Video, VideoStatus
from rtmp_ingest.settings import IngestSettings
from tests.integration.conftest import Publisher, RunningIngest, Streamer, ffmpeg_publish
from tests.integration.rtmp_wire import packet_times
from tests.netutil import wait_until

AAC_FRAME_MS = 1024 * 1000 / 44100
VIDEO_FRAME_MS = 1000 / 30
REFUSAL_SECONDS = 1.0


def only_recording(directory: Path) -> Path:
    files = sorted(directory.glob("*.flv"))
    assert len(files) == 1, files
    return files[0]


def video_of(streamer: Streamer) -> Video:
    return Video.objects.filter(channel=streamer.channel).order_by("-id").first()  # type: ignore[return-value]


def is_live(streamer: Streamer) -> bool:
    video = video_of(streamer)
    return video is not None and video.status == VideoStatus.LIVE


def assert_refused(publisher: Publisher) -> None:
    code, seconds = publisher.wait(10)
    assert code != 0
    assert seconds < REFUSAL_SECONDS, f"refused after {seconds:.2f} s"


def assert_regular(times: list[int], *, frame_ms: float, expected_count: int) -> None:
    """Every packet where the source put it (ms rounding aside): no drift, no duplicate, none lost."""
    assert abs(len(times) - expected_count) <= 1, (len(times), expected_count)
    assert all(b > a for a, b in itertools.pairwise(times)), "timestamps repeat or go back"
    worst = max(abs((t - times[0]) - i * frame_ms) for i, t in enumerate(times))
    assert worst <= 1.0, f"a packet is {worst:.1f} ms away from its source time"


def test_sixty_second_publish_is_recorded_frame_exact(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    streamer = make_streamer("long-run")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=60, size="1280x720")
    publishers.append(publisher)
    assert wait_until(lambda: is_live(streamer), timeout=5)
    code, _ = publisher.wait(90)
    assert code == 0, publisher.stderr()
    assert wait_until(lambda: video_of(streamer).status == VideoStatus.ENDED, timeout=10)

    times = packet_times(only_recording(ingest_settings.recordings_dir))
    assert_regular(times["video"], frame_ms=VIDEO_FRAME_MS, expected_count=60 * 30)
    assert_regular(times["audio"], frame_ms=AAC_FRAME_MS, expected_count=round(60 * 1000 / AAC_FRAME_MS))
    # Audio and video start together and end together: no A/V drift over the minute.
    assert abs(times["audio"][0] - times["video"][0]) <= 50
    assert abs(times["audio"][-1] - times["video"][-1]) <= 50


def test_publish_crossing_the_24_bit_timestamp_limit(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    streamer = make_streamer("late-night")
    start_ms = 2**24 - 1500  # 1.5 s below 16,777,216 ms, then 3 s more
    publisher = ffmpeg_publish(
        f"{ingest.url}/{streamer.key}",
        seconds=4.5,
        output_args=("-output_ts_offset", f"{start_ms / 1000:.3f}"),
    )
    publishers.append(publisher)
    code, _ = publisher.wait(30)
    assert code == 0, publisher.stderr()

    times = packet_times(only_recording(ingest_settings.recordings_dir))
    video = times["video"]
    assert video[0] < 2**24 < video[-1], (video[0], video[-1])
    assert_regular(video, frame_ms=VIDEO_FRAME_MS, expected_count=135)
    assert_regular(times["audio"], frame_ms=AAC_FRAME_MS, expected_count=round(4500 / AAC_FRAME_MS))


def test_accepted_publish_goes_live_then_ends(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    streamer = make_streamer("short-show")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=3)
    publishers.append(publisher)
    assert wait_until(lambda: is_live(streamer), timeout=5)
    video = video_of(streamer)
    assert video.publish_id is not None
    assert wait_until(lambda: bool(video_of(streamer).live_stats), timeout=3), "no heartbeat reached the API"
    code, _ = publisher.wait(20)
    assert code == 0, publisher.stderr()
    assert wait_until(lambda: video_of(streamer).status == VideoStatus.ENDED, timeout=5)
    recording = only_recording(ingest_settings.recordings_dir)
    assert recording.name == f"{video.url}.flv"
    assert streamer.key not in recording.read_bytes().decode("latin-1")


def test_unknown_key_is_refused_within_a_second(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    make_streamer("someone")
    publisher = ffmpeg_publish(f"{ingest.url}/tc_not-a-key-anyone-has-0123456789", seconds=5)
    publishers.append(publisher)
    assert_refused(publisher)
    assert not list(ingest_settings.recordings_dir.glob("*"))


def test_malformed_key_is_refused_before_the_api(
    ingest: RunningIngest, publishers: list[Publisher], ingest_settings: IngestSettings
) -> None:
    publisher = ffmpeg_publish(f"{ingest.url}/bad.key~with*chars", seconds=5)
    publishers.append(publisher)
    assert_refused(publisher)
    assert not ingest_settings.recordings_dir.exists()


def test_rotated_key_is_refused(
    ingest: RunningIngest, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    streamer = make_streamer("rotator")
    old_key = streamer.key
    channel_stream_key_rotate(channel=streamer.channel)  # type: ignore[arg-type]
    publisher = ffmpeg_publish(f"{ingest.url}/{old_key}", seconds=5)
    publishers.append(publisher)
    assert_refused(publisher)
    assert video_of(streamer) is None


def test_second_publisher_on_a_live_channel_is_refused(
    ingest: RunningIngest, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    streamer = make_streamer("popular")
    first = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=4)
    publishers.append(first)
    assert wait_until(lambda: is_live(streamer), timeout=5)
    live_video = video_of(streamer)
    second = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=4)
    publishers.append(second)
    assert_refused(second)
    assert first.process.poll() is None, "the live publisher was disturbed"
    code, _ = first.wait(20)
    assert code == 0, first.stderr()
    assert Video.objects.filter(channel=streamer.channel).count() == 1
    assert video_of(streamer).pk == live_video.pk


def test_rotating_the_key_while_live_disconnects_the_publisher(
    ingest: RunningIngest, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    streamer = make_streamer("leaky")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=30)
    publishers.append(publisher)
    assert wait_until(lambda: is_live(streamer), timeout=5)
    rotated_at = time.monotonic()
    channel_stream_key_rotate(channel=streamer.channel)  # type: ignore[arg-type]
    code = publisher.process.wait(10)
    assert code != 0
    assert time.monotonic() - rotated_at < 3.0
    assert wait_until(lambda: video_of(streamer).status == VideoStatus.ENDED, timeout=5)
    assert wait_until(lambda: ingest.connection_count() == 0, timeout=2)


def test_api_down_means_refused(ingest_without_api: RunningIngest, publishers: list[Publisher]) -> None:
    publisher = ffmpeg_publish(f"{ingest_without_api.url}/tc_perfectly-fine-key-0123456789", seconds=5)
    publishers.append(publisher)
    assert_refused(publisher)


def test_ipv6_publisher_is_accepted(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    assert "::1" in ingest_settings.hosts, "this machine has no IPv6 loopback"
    streamer = make_streamer("six")
    publisher = ffmpeg_publish(f"rtmp://[::1]:{ingest_settings.port}/streaming/{streamer.key}", seconds=2)
    publishers.append(publisher)
    assert wait_until(lambda: is_live(streamer), timeout=5)
    code, _ = publisher.wait(20)
    assert code == 0, publisher.stderr()
    assert packet_times(only_recording(ingest_settings.recordings_dir))["video"]
