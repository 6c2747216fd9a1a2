"""Chunk-stream reading speed: Tidecast's decoder and connection vs plain pyrtmp, on the same bytes.

The stream is a synthesised 6 Mbps 1080p30 publish as OBS/ffmpeg chunk it: chunk size 4096, video
(a 2 s GOP, keyframes ~8x a P-frame) on chunk stream 6 and AAC audio every ~23 ms on chunk stream 4,
interleaved in timestamp order. Tidecast's connection row is the whole receive path of a publishing
connection: `ConnectionIO` decoding in place from a receive buffer, the `RtmpConnection` handing
out events. Run from the source tree: PYTHONPATH=. .venv/bin/python bench/bench_chunks.py [seconds]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable

from pyrtmp import StreamClosedException
from pyrtmp.messages.factory import MessageFactory
from pyrtmp.session_manager import SessionManager

from rtmp_ingest.adapter import ConnectionIO
from rtmp_ingest.chunks import ChunkStreamDecoder, encode_message
from rtmp_ingest.connection import (
    AcceptConnect,
    AcceptCreateStream,
    ConnectionLimits,
    RtmpConnection,
    StartPublish,
)
from rtmp_ingest.receive import ReceiveBuffer
from tidecast_common.amf0 import encode_values

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

    def is_closing(self) -> bool:
        return False


def _command(*values: object, stream_id: int = 0) -> bytes:
    payload = encode_values(*values)
    return encode_message(
        chunk_stream_id=3,
        msg_type_id=20,
        msg_stream_id=stream_id,
        timestamp=0,
        payload=payload,
        chunk_size=128,
    )


def publishing_connection() -> RtmpConnection:
    """A connection past connect, createStream and a granted publish: what comes next is media."""
    connection = RtmpConnection(ConnectionLimits(ack_window=1 << 31))
    c0c1c2 = b"\x03" + bytes(2 * 1536)
    connection.receive_data(c0c1c2 + _command("connect", 1, {"app": "streaming"}))
    connection.receive_data(
        _command("createStream", 2, None) + _command("publish", 3, None, "k", stream_id=1)
    )
    for reply in (AcceptConnect(), AcceptCreateStream(), StartPublish("bench")):
        connection.next_event()
        connection.send(reply)
    return connection


def connection_run(data: bytes) -> int:
    async def main() -> int:
        io = ConnectionIO(received(data), _NullWriter(), publishing_connection())  # type: ignore[arg-type]
        count = 0
        async for _ in io.events():
            count += 1
        return count - 1  # the last event is Closed

    return asyncio.run(main())


def pyrtmp_run(data: bytes) -> int:
    async def main() -> int:
        session = SessionManager(stream_reader(data), _NullWriter())
        session.reader_chunk_size = CHUNK_SIZE
        count = 0
        try:
            async for chunk in session.read_chunks_from_stream():
                MessageFactory.from_chunk(chunk)
                count += 1
        except StreamClosedException:
            pass
        return count

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
    body = encode_message(
        chunk_stream_id=2, msg_type_id=1, msg_stream_id=0, timestamp=0,
        payload=CHUNK_SIZE.to_bytes(4, "big"), chunk_size=128,
    ) + data  # fmt: skip
    rows: list[tuple[str, Callable[[], int], int]] = [
        ("tidecast decoder (feed only)", lambda: decoder_only(data), 5),
        ("tidecast ConnectionIO + RtmpConnection", lambda: connection_run(body), 5),
        ("pyrtmp SessionManager + MessageFactory", lambda: pyrtmp_run(data), 1),
    ]
    print(f"{'reader':<42}{'messages':>10}{'CPU s':>9}{'MB/s':>10}{'CPU-s per media s':>20}")
    for name, run, repeat in rows:
        cpu, count = cpu_seconds(run, repeat)
        print(f"{name:<42}{count:>10}{cpu:>9.3f}{megabytes / cpu:>10.1f}{cpu / seconds:>20.5f}")


if __name__ == "__main__":
    main()
