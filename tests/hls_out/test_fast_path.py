"""The fast path for cached files, over real HTTP: the same answers as `hls_out.app`, in order,
counted alike, and the same limits on idle and slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hls_out.fast_path import DateField, FastPath, single_etag
from hls_out.server import HlsServer
from hls_out.settings import HlsSettings

URL = "abcdefgh12345678"
PLAYLIST = f"/hls-live/{URL}/720p/index.m3u8"
MASTER = f"/hls-live/{URL}.m3u8"
SEGMENT_PATH = f"/hls-live/{URL}/720p/seg_00000.ts"
SEGMENT = bytes(range(256)) * 400  # above the size sent in one write with its head


@pytest.fixture
def root(tmp_path: Path) -> Path:
    hls = tmp_path / "hls"
    (hls / URL / "720p").mkdir(parents=True)
    (hls / f"{URL}.m3u8").write_text("#EXTM3U\n")
    (hls / URL / "720p" / "index.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts\n")
    (hls / URL / "720p" / "seg_00000.ts").write_bytes(SEGMENT)
    return hls


class Answers:
    """How many requests the fast path answered (it declines by returning False)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        answer = FastPath.answer

        def counted(fast: FastPath, *args: object) -> bool:
            answered = answer(fast, *args)  # type: ignore[arg-type]
            self.count += answered
            return answered

        monkeypatch.setattr(FastPath, "answer", counted)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    return Answers(monkeypatch)


@pytest.fixture
async def server(root: Path) -> AsyncIterator[HlsServer]:
    running = HlsServer(HlsSettings(hls_root=root, port=0))
    await running.start()
    yield running
    await running.stop(grace_seconds=1)


async def exchange(server: HlsServer, data: bytes) -> bytes:
    """`data` sent on a new connection, and all that comes back until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return response


async def cache(server: HlsServer, *paths: str) -> None:
    """`paths` fetched once each, so that they are in memory."""
    for path in paths:
        assert (await exchange(server, request(path))).startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(server.cache) + len(server.segments) == len(paths)


def request(path: str, *, method: str = "GET", fields: str = "", close: bool = True) -> bytes:
    ending = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{fields}{ending}\r\n".encode()


def comparable(response: bytes) -> bytes:
    """The response without the fields that differ by the time or the request: Date, Connection."""
    varying = (b"Date: ", b"Connection: ")
    return b"".join(line for line in response.splitlines(keepends=True) if not line.startswith(varying))


@pytest.mark.parametrize("path", [PLAYLIST, MASTER, SEGMENT_PATH])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_cached_file_is_answered_as_app_answers_it(
    server: HlsServer, answers: Answers, path: str, method: str
) -> None:
    # The fast path does not answer Connection: close; a keep-alive request ahead of the
    # closing one is answered by it.
    ask = request(path, method=method, close=False)
    from_app = await exchange(server, ask + request(MASTER, method="HEAD"))
    assert answers.count == 0  # neither was cached
    fast = await exchange(server, ask + request(MASTER, method="HEAD"))
    assert answers.count == 1
    assert comparable(fast) == comparable(from_app)
    assert fast.startswith(b"HTTP/1.1 200 OK\r\n")
    if method == "GET" and path == SEGMENT_PATH:
        assert SEGMENT in fast


@pytest.mark.parametrize("path", [PLAYLIST, SEGMENT_PATH])
@pytest.mark.parametrize("tag_form", ['"{tag}"', 'W/"{tag}"', ' "{tag}" '], ids=["strong", "weak", "spaces"])
async def test_a_matching_if_none_match_gets_the_304_app_gives(
    server: HlsServer, answers: Answers, path: str, tag_form: str
) -> None:
    first = await exchange(server, request(path))
    tag = first.split(b'ETag: "', 1)[1].split(b'"', 1)[0].decode()
    fields = (
        f"If-None-Match: {tag_form.format(tag=tag)}\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    )
    from_app = await exchange(server, request(path, fields=fields))
    fast = await exchange(server, request(path, fields=fields, close=False) + request(MASTER, method="HEAD"))
    assert answers.count == 1
    assert from_app.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert comparable(fast).startswith(comparable(from_app))


async def test_a_stale_tag_gets_the_new_file(server: HlsServer, answers: Answers) -> None:
    await exchange(server, request(PLAYLIST))
    fast = await exchange(
        server,
        request(PLAYLIST, fields='If-None-Match: "old"\r\n', close=False) + request(MASTER, method="HEAD"),
    )
    assert answers.count == 1
    assert fast.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"seg_00000.ts\n" in fast


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ("Range: bytes=0-9\r\n", SEGMENT_PATH),
        ('If-Match: "x"\r\n', SEGMENT_PATH),
        ("If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\n", PLAYLIST),
        ('If-None-Match: "a", "b"\r\n', PLAYLIST),
        ("If-None-Match: *\r\n", PLAYLIST),
        ("", f"{PLAYLIST}?session=tab-1"),
        ("", f"{PLAYLIST}?_HLS_msn=3"),
        ("", f"/hls-live/t/token/{URL}/720p/index.m3u8"),
        ("Content-Length: 2\r\n\r\nab", PLAYLIST),
    ],
    ids=["range", "if-match", "if-modified-since", "tag-list", "tag-star", "session", "msn", "token", "body"],
)
async def test_what_the_fast_path_declines_goes_to_app(
    server: HlsServer, answers: Answers, fields: str, path: str
) -> None:
    await cache(server, SEGMENT_PATH, PLAYLIST, MASTER)
    await exchange(server, request(path, fields=fields, close=False) + request(MASTER))
    assert answers.count == 0
    await exchange(server, request(PLAYLIST, close=False) + request(MASTER))
    assert answers.count == 1  # while a plain request on a fresh connection is answered


async def test_http10_and_closing_requests_go_to_app(server: HlsServer, answers: Answers) -> None:
    await exchange(server, request(PLAYLIST))
    response = await exchange(server, f"GET {PLAYLIST} HTTP/1.0\r\n\r\n".encode())
    assert answers.count == 0
    assert response.startswith(b"HTTP/1.0 200 OK\r\n")


async def test_pipelined_requests_stay_in_order_across_both_paths(
    server: HlsServer, answers: Answers
) -> None:
    await cache(server, PLAYLIST, SEGMENT_PATH, MASTER)
    data = (
        request(PLAYLIST, close=False)
        + request(SEGMENT_PATH, fields="Range: bytes=10-19\r\n", close=False)
        + request(PLAYLIST, close=False)
        + request(MASTER)
    )
    response = await exchange(server, data)
    heads = re.findall(rb"HTTP/1\.1 [^\r]*", response)
    assert heads == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 206 Partial Content",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
    ]
    assert SEGMENT[10:20] + b"HTTP/1.1 200 OK" in response
    assert response.endswith(b"#EXTM3U\n")
    assert answers.count == 1  # the first; behind the Range request app answers the rest in turn


async def test_a_replaced_or_removed_file_is_not_answered_from_memory(
    server: HlsServer, answers: Answers, root: Path
) -> None:
    await exchange(server, request(PLAYLIST))
    replacement = root / URL / "720p" / "index.m3u8.tmp"
    replacement.write_text("#EXTM3U\n#EXT-X-ENDLIST\n")
    replacement.replace(root / URL / "720p" / "index.m3u8")
    fresh = await exchange(server, request(PLAYLIST, close=False) + request(MASTER, method="HEAD"))
    assert b"#EXT-X-ENDLIST\n" in fresh
    (root / URL / "720p" / "index.m3u8").unlink()
    gone = await exchange(server, request(PLAYLIST))
    assert gone.startswith(b"HTTP/1.1 404 ")
    assert answers.count == 0


async def test_viewers_are_counted_on_the_fast_path(server: HlsServer, answers: Answers) -> None:
    await exchange(server, request(PLAYLIST))
    for agent in ("player-a", "player-b", "player-a", "player-c"):
        await exchange(
            server, request(PLAYLIST, fields=f"User-Agent: {agent}\r\n", close=False) + request(MASTER)
        )
    assert answers.count == 4
    counts = server.tracker.counts(now=asyncio.get_running_loop().time())
    assert counts == {URL: 4}  # the three players, and the first request's bare client


async def test_an_idle_connection_after_fast_answers_is_closed(
    root: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hls_out.server.KEEPALIVE_TIMEOUT_SECONDS", 0.3)
    server = HlsServer(HlsSettings(hls_root=root, port=0))
    await server.start()
    try:
        await exchange(server, request(PLAYLIST))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(3):
            writer.write(request(PLAYLIST, close=False))
            await asyncio.wait_for(reader.readuntil(b"seg_00000.ts\n"), timeout=5)
            await asyncio.sleep(0.2)  # less than the keep-alive timeout each time
        assert answers.count == 3
        assert await asyncio.wait_for(reader.read(), timeout=2) == b""
        writer.close()
    finally:
        await server.stop(grace_seconds=1)


async def test_a_client_that_stops_reading_a_fast_answer_loses_its_connection(
    root: Path, answers: Answers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hls_out.server.SEND_TIMEOUT_SECONDS", 0.3)
    large = bytes(range(256)) * 4096 * 16  # 16 MiB: more than the socket buffers hold
    (root / URL / "720p" / "large.ts").write_bytes(large)
    path = f"/hls-live/{URL}/720p/large.ts"
    server = HlsServer(HlsSettings(hls_root=root, port=0, cached_segment_max_kilobytes=32 * 1024))
    await server.start()
    try:
        await exchange(server, request(path, method="HEAD"))  # now cached
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        probe.setblocking(False)
        await asyncio.get_running_loop().sock_connect(probe, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=probe)
        writer.write(request(path, close=False))
        await writer.drain()
        await asyncio.sleep(1.5)  # not reading, well past the send timeout
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), timeout=5):
                received += chunk
        assert answers.count == 1
        assert len(received) < len(large)
        writer.close()
    finally:
        await server.stop(grace_seconds=1)


@pytest.mark.parametrize(
    ("value", "tag"),
    [('"abc"', "abc"), ('W/"abc"', "abc"), (' "abc" ', "abc"), ('""', "")],
)
def test_one_entity_tag_is_read(value: str, tag: str) -> None:
    assert single_etag(value) == tag


@pytest.mark.parametrize("value", ["*", '"a", "b"', "abc", '"abc', "W/", ""])
def test_anything_else_is_left_to_app(value: str) -> None:
    assert single_etag(value) is None


def test_the_date_is_formatted_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    date = DateField()
    monkeypatch.setattr("hls_out.fast_path.time.time", lambda: 1_700_000_000.2)
    first = date.tail()
    assert first.startswith(b"Date: Tue, 14 Nov 2023 22:13:20 GMT\r\nServer: ")
    assert first.endswith(b"\r\n\r\n")
    monkeypatch.setattr("hls_out.fast_path.time.time", lambda: 1_700_000_000.9)
    assert date.tail() is first
    monkeypatch.setattr("hls_out.fast_path.time.time", lambda: 1_700_000_001.0)
    assert date.tail().startswith(b"Date: Tue, 14 Nov 2023 22:13:21 GMT\r\n")


@pytest.mark.parametrize("path", [PLAYLIST, SEGMENT_PATH])
async def test_a_cached_file_of_a_video_made_private_is_refused(
    server: HlsServer, answers: Answers, root: Path, path: str
) -> None:
    from tidecast_common.playback_tokens import PRIVATE_MARKER

    await cache(server, path)
    (root / URL / PRIVATE_MARKER).write_text("")
    await asyncio.sleep(1.1)  # past the gate's marker cache (HLS_PRIVATE_CHECK_SECONDS)
    refused = await exchange(server, request(path, close=False) + request(MASTER, method="HEAD"))
    assert refused.startswith(b"HTTP/1.1 404 ")
    assert answers.count == 0
    assert SEGMENT not in refused
