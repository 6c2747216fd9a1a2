"""Chunk-stream reading speed: Tidecast's decoder and session vs plain pyrtmp, on the same bytes.

The stream is a synthesised 6 Mbps 1080p30 publish as OBS/ffmpeg chunk it: chunk size 4096, video
(a 2 s GOP, keyframes ~8x a P-frame) on chunk stream 6 and AAC audio every ~23 ms on chunk stream 4,
interleaved in timestamp order. Run: .venv/bin/python bench/bench_chunks.py [seconds]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable

from rtmp_ingest._pyrtmp import MessageFactory, SessionManager, StreamClosedException
from rtmp_ingest.chunks import ChunkStreamDecoder, encode_message
from rtmp_ingest.messages import parse_message
from rtmp_ingest.receive import ReceiveBuffer
from rtmp_ingest.session import IngestSession, SessionLimits

CHUNK_SIZE = 4096
VIDEO_KBPS = 5872
AUDIO_KBPS = 128
FPS = 30
GOP_FRAMES = 2 * FPS
AUDIO_FRAME_MS = 1024 / 48


def synthesise(seconds: float) -> bytes:
    rng = random.Random(7)
    bytes_per_gop = VIDEO_KBPS * 1000 / 8 * GOP_FRAMES / FPS
    p_frame = bytes_per_gop / (GOP_FRAMES - 1 + 8)
    events: list[tuple[float, int, int]] = []  # (time ms, type, size)
    for n in range(int(seconds * FPS)):
        size = p_frame * (8 if n % GOP_FRAMES == 0 else rng.uniform(0.7, 1.3))
        events.append((n * 1000 / FPS, 9, int(size)))
    audio_size = int(AUDIO_KBPS * 1000 / 8 * AUDIO_FRAME_MS / 1000)
    for n in range(int(seconds * 1000 / AUDIO_FRAME_MS)):
        events.append((n * AUDIO_FRAME_MS, 8, audio_size))
    events.sort()
    blob = rng.randbytes(max(size for _, _, size in events))
    return b"".join(
        encode_message(
            chunk_stream_id=6 if type_id == 9 else 4,
            msg_type_id=type_id,
            msg_stream_id=1,
            timestamp=int(ms),
            payload=blob[:size],
            chunk_size=CHUNK_SIZE,
        )
        for ms, type_id, size in events
    )


def cpu_seconds(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.process_time()
        count = run()
        best = min(best, time.process_time() - start)
    return best, count


def decoder_only(data: bytes) -> int:
    decoder = ChunkStreamDecoder()
    decoder.chunk_size = CHUNK_SIZE
    count = 0
    for offset in range(0, len(data), 65536):
        count += len(decoder.feed(data[offset : offset + 65536]))
    return count


class _NullWriter:
    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


async def _read_all(session: SessionManager, parse: Callable[[object], object]) -> int:
    count = 0
    try:
        async for chunk in session.read_chunks_from_stream():
            parse(chunk)
            count += 1
    except StreamClosedException:
        pass
    return count


def session_run(make: Callable[[], SessionManager], parse: Callable[[object], object]) -> int:
    async def main() -> int:
        session = make()
        session.reader_chunk_size = CHUNK_SIZE
        return await _read_all(session, parse)

    return asyncio.run(main())


def received(data: bytes) -> ReceiveBuffer:
    """The stream already received, whole: the session decodes in place, as from the socket."""
    buffer = ReceiveBuffer(len(data) + 65536)
    buffer.feed_data(data)
    buffer.feed_eof()
    return buffer


def stream_reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=len(data) + 1)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    data = synthesise(seconds)
    megabytes = len(data) / 1e6
    print(
        f"stream: {seconds:.0f} s of 6 Mbps 1080p30-like publish, {megabytes:.1f} MB, chunk size {CHUNK_SIZE}"
    )
    limits = SessionLimits(ack_window=0)
    rows = [
        ("tidecast decoder (feed only)", lambda: decoder_only(data), 5),
        (
            "tidecast IngestSession + parse_message",
            lambda: session_run(
                lambda: IngestSession(received(data), _NullWriter(), limits=limits), parse_message
            ),
            5,
        ),
        (
            "pyrtmp SessionManager + MessageFactory",
            lambda: session_run(
                lambda: SessionManager(stream_reader(data), _NullWriter()), MessageFactory.from_chunk
            ),
            1,
        ),
    ]
    print(f"{'reader':<42}{'messages':>10}{'CPU s':>9}{'MB/s':>10}{'CPU-s per media s':>20}")
    for name, run, repeat in rows:
        cpu, count = cpu_seconds(run, repeat)
        print(f"{name:<42}{count:>10}{cpu:>9.3f}{megabytes / cpu:>10.1f}{cpu / seconds:>20.5f}")


if __name__ == "__main__":
    main()
