"""The receive buffer: bounded, read into in place, pausing the transport instead of growing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from rtmp_ingest.receive import IngestProtocol, ReceiveBuffer


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True
        self.pauses = 0

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False


def socket_read(buffer: ReceiveBuffer, data: bytes) -> None:
    """What the event loop does on a read: fill what get_buffer() gives, then buffer_updated()."""
    view = buffer.get_buffer()
    assert len(view) >= len(data)
    view[: len(data)] = data
    buffer.buffer_updated(len(data))


def test_reads_land_in_place_and_consuming_everything_rewinds() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    socket_read(buffer, b"abcdef")
    assert bytes(buffer.data[buffer.start : buffer.end]) == b"abcdef"
    buffer.consume(4)
    socket_read(buffer, b"gh")
    assert bytes(buffer.data[buffer.start : buffer.end]) == b"efgh"
    buffer.consume(4)
    assert (buffer.start, buffer.end, buffer.received) == (0, 0, 8)


def test_the_waiting_rest_moves_to_the_front_when_the_free_tail_is_short() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    socket_read(buffer, bytes(range(256)) * 3)  # 768 bytes: 256 free
    buffer.consume(700)
    rest = bytes(buffer.data[700:768])
    socket_read(buffer, b"x" * 10)  # 246 free now: the next get_buffer compacts
    view = buffer.get_buffer()
    assert buffer.start == 0
    assert bytes(buffer.data[: buffer.end]) == rest + b"x" * 10
    assert len(view) == 1024 - len(rest) - 10


def test_reading_pauses_before_the_buffer_fills_and_resumes_once_half_is_free() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    transport = FakeTransport()
    buffer.attach(transport)  # type: ignore[arg-type]
    socket_read(buffer, b"a" * 700)
    assert transport.reading
    socket_read(buffer, b"b" * 100)  # 800 waiting: less than min_free left
    assert not transport.reading
    buffer.consume(200)  # 600 waiting: still more than half
    assert not transport.reading
    buffer.consume(100)  # 500 waiting
    assert transport.reading
    assert transport.pauses == 1


def test_feed_data_refuses_more_than_the_buffer_holds() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    with pytest.raises(BufferError):
        buffer.feed_data(bytes(1025))
    buffer.feed_data(bytes(1000))
    buffer.consume(900)
    buffer.feed_data(b"y" * 900)  # fits once the waiting 100 bytes move to the front
    assert buffer.waiting == 1000
    assert bytes(buffer.data[buffer.end - 900 : buffer.end]) == b"y" * 900


def test_min_free_must_fit() -> None:
    with pytest.raises(ValueError, match="min_free"):
        ReceiveBuffer(1024, min_free=1024)


async def test_readexactly_waits_for_its_bytes_and_reports_a_short_end() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    reading = asyncio.create_task(buffer.readexactly(5))
    await asyncio.sleep(0)
    buffer.feed_data(b"abc")
    await asyncio.sleep(0)
    assert not reading.done()
    buffer.feed_data(b"def")
    assert await reading == b"abcde"
    buffer.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError) as raised:
        await buffer.readexactly(2)
    assert raised.value.partial == b"f"


async def test_wait_for_data_returns_on_new_bytes_eof_or_error() -> None:
    buffer = ReceiveBuffer(1024, min_free=256)
    waiting = asyncio.create_task(buffer.wait_for_data(0))
    await asyncio.sleep(0)
    assert not waiting.done()
    buffer.feed_data(b"z")
    await asyncio.wait_for(waiting, 1)
    buffer.set_exception(ConnectionResetError())
    await asyncio.wait_for(buffer.wait_for_data(buffer.received), 1)
    assert isinstance(buffer.error, ConnectionResetError)


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_protocol_over_a_real_socket_reads_writes_and_closes(run: Callable[[Any], None]) -> None:
    # uvloop only reads into a BufferedProtocol that is not also a plain Protocol: both loops are checked.
    run(echo_over_a_real_socket())


async def echo_over_a_real_socket() -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    echoed = asyncio.Event()

    async def echo_twice(buffer: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        data = await buffer.readexactly(6)
        writer.write(data * 2)
        await writer.drain()
        echoed.set()
        await buffer.wait_for_data(buffer.received)  # until the client closes
        writer.close()
        await writer.wait_closed()

    server = await loop.create_server(
        lambda: IngestProtocol(echo_twice, buffer_size=256 * 1024, tasks=tasks), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping!\n")
    assert await asyncio.wait_for(reader.readexactly(12), 2) == b"ping!\nping!\n"
    await echoed.wait()
    writer.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert not tasks
    server.close()
    await server.wait_closed()
