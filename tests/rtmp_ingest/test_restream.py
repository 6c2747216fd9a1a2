"""Restreaming's parts: the push command, pauses, redaction, the headers a run starts with, the grant's
destinations, and the bounded queue against a child that never reads (a real process)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from rtmp_ingest.api_client import ApiResponseError, parse_targets
from rtmp_ingest.push_client import CHUNK_SIZE, media_chunks
from rtmp_ingest.restream import (
    FLUSH_BYTES,
    FLUSH_SECONDS,
    DestinationPush,
    GatheredTags,
    PushStatus,
    Restreamer,
    RestreamLimits,
    RestreamTarget,
    StreamHeaders,
    build_push_command,
    chunk_batch,
    redact,
    retry_pause,
)
from rtmp_ingest.settings import IngestSettings, SettingsError
from tidecast_common import flv

AVC_HEADER = bytes([0x17, 0x00, 0, 0, 0]) + b"\x01avcC"
KEYFRAME = bytes([0x17, 0x01, 0, 0, 0]) + b"key" * 100
INTERFRAME = bytes([0x27, 0x01, 0, 0, 0]) + b"inter" * 100
AAC_HEADER = bytes([0xAF, 0x00, 0x12, 0x10])
AAC_FRAME = bytes([0xAF, 0x01]) + b"aac" * 50
URL = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop"


def test_the_push_command_copies_flv_from_stdin_to_the_url() -> None:
    assert build_push_command(url=URL, ffmpeg_binary="/usr/bin/ffmpeg", io_timeout=5) == [
        "/usr/bin/ffmpeg", "-f", "flv", "-analyzeduration", "500000", "-probesize", "1000000", "-i", "pipe:0",
        "-f", "flv", "-c", "copy", "-flvflags", "no_duration_filesize", "-rw_timeout", "5000000", URL,
        "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:2", "-stats_period", "1",
    ]  # fmt: skip


def test_pauses_double_up_to_the_longest() -> None:
    limits = RestreamLimits(retry_initial=1.0, retry_max=10.0)
    assert [retry_pause(n, limits) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_redaction_hides_the_url_its_key_query_and_password() -> None:
    line = f"[rtmp @ 0x1] Error opening output {URL}: Connection refused (abcd-efgh-ijkl-mnop)"
    assert redact(line, URL) == "[rtmp @ 0x1] Error opening output ****: Connection refused (****)"
    assert redact("auth hunter2 rejected, token=t0k3n", "rtmp://u:hunter2@h/app/x?token=t0k3n") == (
        "auth **** rejected, ****"
    )


def test_a_target_never_shows_its_url() -> None:
    assert "abcd" not in repr(RestreamTarget(id="1", url=URL))


def test_a_run_starts_with_the_headers_at_a_keyframe() -> None:
    headers = StreamHeaders()
    headers.metadata = {"width": 640.0}
    assert headers.observe(flv.TAG_VIDEO, AVC_HEADER) is False
    assert headers.observe(flv.TAG_AUDIO, AAC_HEADER) is False
    assert headers.observe(flv.TAG_VIDEO, INTERFRAME) is False
    assert headers.observe(flv.TAG_VIDEO, KEYFRAME) is True
    priming = headers.priming(1000)
    assert priming.startswith(flv.file_header(has_audio=True, has_video=True))
    assert priming.index(AVC_HEADER) < priming.index(AAC_HEADER)
    assert flv.metadata_tag({"width": 640.0}) in priming


def gather(tags: list[tuple[int, int, bytes, bool]], headers: StreamHeaders | None = None) -> GatheredTags:
    gathered = GatheredTags()
    for tag_type, timestamp, payload, keyframe in tags:
        gathered.add(tag_type, timestamp, payload, keyframe, headers or StreamHeaders())
    return gathered


def test_a_batch_is_every_tag_chunked_and_a_run_may_start_at_its_first_keyframe() -> None:
    big_keyframe = KEYFRAME + b"k" * (3 * CHUNK_SIZE)  # four chunks: continuation headers between
    tags = [
        (flv.TAG_AUDIO, 90, AAC_FRAME, False),
        (flv.TAG_VIDEO, 100, INTERFRAME, False),
        (flv.TAG_VIDEO, 133, big_keyframe, True),
        (flv.TAG_AUDIO, 140, AAC_FRAME, False),
        (flv.TAG_VIDEO, 166, KEYFRAME, True),
    ]
    chunked = [media_chunks(tag_type, ts, payload, stream_id=1) for tag_type, ts, payload, _ in tags]
    batch = chunk_batch(gather(tags), 1)
    assert batch.data == b"".join(chunked)
    assert batch.keyframe_timestamp == 133
    assert b"".join(batch.pieces[batch.keyframe_piece :]) == b"".join(chunked[2:])
    assert chunk_batch(gather(tags[:2]), 1).keyframe_piece == -1
    assert chunk_batch(gather(tags[:2]), 1).data == b"".join(chunked[:2])
    assert chunk_batch(gather(tags), 5).data == b"".join(
        media_chunks(tag_type, ts, payload, stream_id=5) for tag_type, ts, payload, _ in tags
    )


def test_a_batch_keeps_the_sequence_headers_of_its_first_keyframe() -> None:
    headers = StreamHeaders()
    headers.observe(flv.TAG_VIDEO, AVC_HEADER)
    gathered = gather([(flv.TAG_VIDEO, 0, INTERFRAME, False)], headers)
    headers.observe(flv.TAG_AUDIO, AAC_HEADER)
    gathered.add(flv.TAG_VIDEO, 33, KEYFRAME, True, headers)
    headers.observe(flv.TAG_VIDEO, AVC_HEADER + b"2")  # a new configuration after the keyframe
    gathered.add(flv.TAG_VIDEO, 66, KEYFRAME, True, headers)
    batch = chunk_batch(gathered, 1)
    assert list(batch.sequence_headers) == [(flv.TAG_VIDEO, AVC_HEADER), (flv.TAG_AUDIO, AAC_HEADER)]
    assert batch.keyframe_timestamp == 33


async def test_what_the_native_engine_gathers_stays_under_its_bound() -> None:
    restreamer = Restreamer(
        [RestreamTarget(id="d", url="rtmp://127.0.0.1:9/app/key")], limits=RestreamLimits()
    )
    restreamer.start()  # (nothing listens there: the push only tries to connect)
    frame = INTERFRAME + b"i" * (FLUSH_BYTES // 4)
    gathered = []
    for index in range(12):  # within one FLUSH_SECONDS, unless the machine stalls
        restreamer.offer(flv.TAG_VIDEO, index, frame)
        gathered.append(restreamer.gathered_bytes)
    assert max(gathered) < FLUSH_BYTES
    assert max(gathered) >= 2 * len(frame)  # gathered across tags, not flushed one by one
    await restreamer.stop()
    assert restreamer.gathered_bytes == 0


async def test_the_native_engine_flushes_at_the_end_of_the_turn_that_brought_the_tags() -> None:
    restreamer = Restreamer(
        [RestreamTarget(id="d", url="rtmp://127.0.0.1:9/app/key")], limits=RestreamLimits()
    )
    restreamer.start()  # (nothing listens there: the push only tries to connect)
    await asyncio.sleep(FLUSH_SECONDS)  # long after the last flush (none)
    for index in range(3):  # what one read of the publisher's connection brings
        restreamer.offer(flv.TAG_VIDEO, index * 33, INTERFRAME)
    assert restreamer.gathered_bytes == 3 * len(INTERFRAME)  # all three wait for the end of the turn
    await asyncio.sleep(0)
    assert restreamer.gathered_bytes == 0
    await restreamer.stop()


def test_a_keyframe_before_the_sequence_header_is_no_start() -> None:
    assert StreamHeaders().observe(flv.TAG_VIDEO, KEYFRAME) is False


@pytest.mark.parametrize(
    "value",
    [{"id": "x"}, [{"id": "not-a-uuid", "url": URL}], [{"id": "8c0e6b1e-4f3c-4a55-9a57-8d0c4f7b3a11", "url": "http://x/y/z"}],
     [{"id": "8c0e6b1e-4f3c-4a55-9a57-8d0c4f7b3a11", "url": "rtmp://h/a/k ey"}]],
)  # fmt: skip
def test_malformed_destinations_in_an_answer_are_refused(value: object) -> None:
    with pytest.raises((ApiResponseError, ValueError)):
        parse_targets(value)


def test_destinations_in_an_answer_are_read() -> None:
    target_id = "8c0e6b1e-4f3c-4a55-9a57-8d0c4f7b3a11"
    assert parse_targets([{"id": target_id, "url": URL}]) == (RestreamTarget(id=target_id, url=URL),)


def test_restream_limits_come_from_the_environment() -> None:
    settings = IngestSettings.from_env({"INGEST_SHARED_SECRET": "s", "RESTREAM_QUEUE_BYTES": "1048576",
                                        "RESTREAM_RETRY_MAX_SECONDS": "30", "RESTREAM_MAX_DESTINATIONS": "3"})  # fmt: skip
    assert (
        settings.restream.queue_bytes,
        settings.restream.retry_max,
        settings.restream.max_destinations,
    ) == (1048576, 30.0, 3)
    with pytest.raises(SettingsError):
        IngestSettings.from_env({"INGEST_SHARED_SECRET": "s", "RESTREAM_RETRY_INITIAL_SECONDS": "5",
                                 "RESTREAM_RETRY_MAX_SECONDS": "1"})  # fmt: skip


def fake_ffmpeg(tmp_path: Path, name: str, body: str) -> str:
    """An executable standing in for ffmpeg: a Python script given the push's argv."""
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


async def push_until(push: DestinationPush, predicate: object, *, seconds: float, tag: bytes) -> float:
    """Offer `tag` as fast as a 50 Mbit/s publisher would until `predicate()`; the longest offer() took."""
    longest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():  # type: ignore[operator]
        started = time.perf_counter()
        push.offer(tag, keyframe=True, timestamp_ms=0)
        longest = max(longest, time.perf_counter() - started)
        assert push.queued_bytes <= 256 * 1024
        await asyncio.sleep(len(tag) * 8 / 50_000_000)
    return longest


def test_a_child_that_never_reads_is_dropped_and_its_queue_freed(tmp_path: Path) -> None:
    never_reads = fake_ffmpeg(
        tmp_path, "stuck", "print('total_size=100', file=sys.stderr, flush=True)\ntime.sleep(60)"
    )

    async def scenario() -> None:
        headers = StreamHeaders()
        headers.observe(flv.TAG_VIDEO, AVC_HEADER)
        limits = RestreamLimits(queue_bytes=256 * 1024, retry_initial=30, retry_max=30, stop_timeout=1)
        push = DestinationPush(RestreamTarget(id="d1", url=URL), headers=headers, limits=limits,
                               ffmpeg_binary=never_reads, environment={"PATH": "/usr/bin:/bin"})  # fmt: skip
        push.start()
        tag = flv.tag(flv.TAG_VIDEO, 0, KEYFRAME * 40)  # ~20 KB, a keyframe's worth
        longest = await push_until(push, lambda: push.status is PushStatus.FAILED, seconds=15, tag=tag)
        assert push.status is PushStatus.FAILED, push.last_error
        assert push.last_error.startswith("dropped: the destination fell")
        assert push.drops == 1
        assert push.queued_bytes == 0
        assert longest < 0.01  # offering never waited on the child
        await push.stop()

    asyncio.run(scenario())


def test_a_fast_destination_gets_every_byte_while_a_stuck_one_is_dropped(tmp_path: Path) -> None:
    received = tmp_path / "received.flv"
    reader = fake_ffmpeg(
        tmp_path, "reader",
        f"print('total_size=100', file=sys.stderr, flush=True)\nopen({str(received)!r}, 'wb').write(sys.stdin.buffer.read())",
    )  # fmt: skip
    never_reads = fake_ffmpeg(tmp_path, "stuck", "time.sleep(60)")

    async def scenario() -> None:
        limits = RestreamLimits(
            queue_bytes=256 * 1024, retry_initial=30, retry_max=30, connect_timeout=30, engine="ffmpeg"
        )
        restreamer = Restreamer([], limits=limits, environment={"PATH": "/usr/bin:/bin"}, name="v")
        restreamer._ffmpeg = reader  # the fast one first, then the stuck one beside it
        restreamer.update([RestreamTarget(id="fast", url=URL)])
        restreamer._ffmpeg = never_reads
        restreamer.update([RestreamTarget(id="fast", url=URL), RestreamTarget(id="stuck", url=URL)])
        fast, stuck = restreamer.pushes
        await asyncio.sleep(0.5)  # both children are up
        restreamer.offer(flv.TAG_VIDEO, 0, AVC_HEADER)
        frames = [KEYFRAME * 20 if index % 30 == 0 else INTERFRAME * 20 for index in range(300)]
        for index, frame in enumerate(frames):
            restreamer.offer(flv.TAG_VIDEO, index * 33, frame)
            await asyncio.sleep(0.002)
        assert stuck.status is PushStatus.FAILED
        assert stuck.drops == 1
        assert fast.status is PushStatus.LIVE
        assert fast.drops == 0
        await restreamer.stop()
        video = [tag.payload for tag in flv.iter_tags(received.read_bytes()) if tag.tag_type == flv.TAG_VIDEO]
        assert video == [AVC_HEADER, *frames]  # the headers, then every tag, as received

    asyncio.run(scenario())
