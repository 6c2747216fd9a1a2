"""The HLS server over real HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hls_out.server import HlsServer
from hls_out.settings import HlsSettings

URL = "abcdefgh12345678"
SEGMENT = bytes(range(256)) * 40


class Client:
    """An aiohttp client session bound to one running HlsServer."""

    def __init__(self, server: HlsServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.host = "127.0.0.1"
        self.port = server.port

    async def request(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.session.request(method, f"http://{self.host}:{self.port}{path}", **kwargs)

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("HEAD", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("OPTIONS", path, **kwargs)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    hls = tmp_path / "hls"
    (hls / URL / "720p").mkdir(parents=True)
    (hls / f"{URL}.m3u8").write_text("#EXTM3U\n")
    (hls / URL / "720p" / "index.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts\n")
    (hls / URL / "720p" / "seg_00000.ts").write_bytes(SEGMENT)
    (hls / URL / "720p" / "seg_00001.m4s").write_bytes(b"m4s")
    (tmp_path / "secret.ts").write_text("outside")
    return hls


async def start_server(settings: HlsSettings) -> HlsServer:
    server = HlsServer(settings)
    await server.start()
    return server


@pytest.fixture
async def client(root: Path) -> AsyncIterator[Client]:
    server = await start_server(HlsSettings(hls_root=root, port=0))
    async with aiohttp.ClientSession() as session:
        yield Client(server, session)
    await server.stop(grace_seconds=1)


async def raw_get(client: Client, path: str) -> tuple[int, bytes]:
    """A request sent byte for byte, so no client library normalizes the path first."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.partition(b"\r\n\r\n")[2]


async def test_master_playlist_is_served_uncached_with_cors(client: Client) -> None:
    response = await client.get(f"/hls-live/{URL}.m3u8")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in response.headers["Access-Control-Expose-Headers"]
    assert await response.text() == "#EXTM3U\n"


async def test_segments_are_long_cacheable_with_their_types(client: Client) -> None:
    response = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts")
    assert response.status == 200
    assert response.headers["Content-Type"] == "video/mp2t"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "ETag" in response.headers
    assert "Last-Modified" in response.headers
    assert await response.read() == SEGMENT
    fragmented = await client.get(f"/hls-live/{URL}/720p/seg_00001.m4s")
    assert fragmented.headers["Content-Type"] == "video/mp4"


async def test_range_requests_get_206(client: Client) -> None:
    response = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts", headers={"Range": "bytes=100-199"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(SEGMENT)}"
    assert await response.read() == SEGMENT[100:200]


async def test_conditional_requests_get_304(client: Client) -> None:
    first = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts")
    again = await client.get(
        f"/hls-live/{URL}/720p/seg_00000.ts", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304


async def test_cors_preflight(client: Client) -> None:
    response = await client.options(
        f"/hls-live/{URL}/720p/seg_00000.ts",
        headers={"Origin": "http://player.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Range" in response.headers["Access-Control-Allow-Headers"]


async def test_head_gives_the_length_without_a_body(client: Client) -> None:
    response = await client.head(f"/hls-live/{URL}/720p/seg_00000.ts")
    assert response.status == 200
    assert int(response.headers["Content-Length"]) == len(SEGMENT)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/hls-live/{URL}/../../secret.ts", 400),
        ("/hls-live/%2e%2e/secret.ts", 400),
        ("/hls-live/..%2fsecret.ts", 400),
        ("/hls-live/%252e%252e/secret.ts", 400),
        ("/hls-live/..%5csecret.ts", 400),
        (f"/hls-live/{URL}/720p/missing.ts", 404),
        (f"/hls-live/{URL}/720p/index.m3u8.tmp", 404),
        ("/etc/passwd", 404),
        ("/", 404),
    ],
)
async def test_traversal_on_the_wire_is_refused(client: Client, path: str, status: int) -> None:
    got, body = await raw_get(client, path)
    assert got == status
    assert b"outside" not in body


async def test_symlink_out_of_the_root_is_not_served(client: Client, root: Path) -> None:
    (root / URL / "720p" / "leak.ts").symlink_to(root.parent / "secret.ts")
    response = await client.get(f"/hls-live/{URL}/720p/leak.ts")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"


async def test_playback_sessions_are_counted_per_video(client: Client) -> None:
    for agent in ("player-a", "player-b", "player-a"):
        await client.get(f"/hls-live/{URL}/720p/index.m3u8", headers={"User-Agent": agent})
    await client.get(f"/hls-live/{URL}.m3u8", params={"session": "tab-1"})
    await client.get(f"/hls-live/{URL}/720p/missing.ts", headers={"User-Agent": "player-c"})
    tracker = client.server.tracker
    assert tracker.counts(now=asyncio.get_running_loop().time()) == {URL: 3}


async def test_playlists_carry_validators_and_answer_304(client: Client) -> None:
    first = await client.get(f"/hls-live/{URL}/720p/index.m3u8")
    assert "Last-Modified" in first.headers
    again = await client.get(
        f"/hls-live/{URL}/720p/index.m3u8", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304


async def raw_exchange(client: Client, data: bytes) -> bytes:
    """Bytes sent as they are on one connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return response


async def test_pipelined_requests_are_answered_in_order_on_one_connection(client: Client) -> None:
    request = f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"
    last = f"GET /hls-live/{URL}/720p/index.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = await raw_exchange(client, (request * 2 + last).encode())
    assert response.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert response.endswith(b"seg_00000.ts\n")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /hls-live/x HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET /hls-live/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"GET /hls-live/x HTTP/3\r\n\r\n", 505),
        (b"GET /hls-live/" + b"a" * 9000 + b" HTTP/1.1\r\n", 431),
    ],
)
async def test_malformed_requests_get_an_error_and_the_connection_closes(
    client: Client, data: bytes, status: int
) -> None:
    response = await raw_exchange(client, data + f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\n\r\n".encode())
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close\r\n" in response
    assert response.count(b"HTTP/1.1 ") == 1  # nothing smuggled behind it is answered


async def test_other_methods_are_not_allowed(client: Client) -> None:
    response = await client.request("POST", f"/hls-live/{URL}.m3u8")
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert (await response.json())["code"] == "method_not_allowed"


async def test_a_rewritten_playlist_is_served_fresh(client: Client, root: Path) -> None:
    playlist = root / URL / "720p" / "index.m3u8"
    first = await client.get(f"/hls-live/{URL}/720p/index.m3u8")
    assert (await first.text()).endswith("seg_00000.ts\n")
    replacement = playlist.with_name(".index.m3u8.tmp")
    replacement.write_text("#EXTM3U\n#EXTINF:2.0,\nseg_00001.ts\n")
    replacement.replace(playlist)
    again = await client.get(f"/hls-live/{URL}/720p/index.m3u8")
    assert (await again.text()).endswith("seg_00001.ts\n")
    assert again.headers["ETag"] != first.headers["ETag"]


async def test_unsatisfiable_ranges_get_416(client: Client) -> None:
    response = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts", headers={"Range": "bytes=99999-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(SEGMENT)}"


async def test_if_modified_since_gets_304(client: Client) -> None:
    first = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts")
    again = await client.get(
        f"/hls-live/{URL}/720p/seg_00000.ts", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert again.status == 304
    assert await again.read() == b""


async def test_files_larger_than_the_cache_limit_are_streamed(root: Path) -> None:
    recording = bytes(range(256)) * 4096 * 3  # 3 MiB, above the 1 MiB per-file cache limit
    (root / URL / "720p" / "full.mp4").write_bytes(recording)
    server = await start_server(HlsSettings(hls_root=root, port=0, cached_segment_max_kilobytes=1024))
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(server, session)
            whole = await client.get(f"/hls-live/{URL}/720p/full.mp4")
            assert whole.status == 200
            assert whole.headers["Content-Type"] == "video/mp4"
            assert await whole.read() == recording
            part = await client.get(
                f"/hls-live/{URL}/720p/full.mp4", headers={"Range": "bytes=1000000-2999999"}
            )
            assert part.status == 206
            assert part.headers["Content-Range"] == f"bytes 1000000-2999999/{len(recording)}"
            assert await part.read() == recording[1000000:3000000]
            head = await client.head(f"/hls-live/{URL}/720p/full.mp4")
            assert int(head.headers["Content-Length"]) == len(recording)
            # The connection is reused after a streamed file.
            after = await client.get(f"/hls-live/{URL}.m3u8")
            assert after.status == 200
        assert len(server.cache) == 1  # only the master playlist was kept
        assert len(server.segments) == 0  # and no segment
    finally:
        await server.stop(grace_seconds=1)


async def test_stop_closes_idle_keep_alive_connections(root: Path) -> None:
    server = await start_server(HlsSettings(hls_root=root, port=0))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"#EXTM3U\n"), timeout=5)
    await asyncio.wait_for(server.stop(grace_seconds=5), timeout=2)
    assert await asyncio.wait_for(reader.read(), timeout=2) == b""
    writer.close()


async def test_http10_keep_alive_is_announced_and_honoured(client: Client) -> None:
    keep = f"GET /hls-live/{URL}.m3u8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    response = await raw_exchange(client, (keep + f"GET /hls-live/{URL}.m3u8 HTTP/1.0\r\n\r\n").encode())
    first, _, second = response.partition(b"#EXTM3U\n")
    assert b"Connection: keep-alive\r\n" in first
    assert b"Connection: close\r\n" in second
    assert second.endswith(b"#EXTM3U\n")


async def test_a_streamed_file_completes_before_close_and_pipelined_requests_wait(root: Path) -> None:
    recording = bytes(range(256)) * 4096 * 2  # 2 MiB, above the 1 MiB per-file cache limit
    (root / URL / "720p" / "full.mp4").write_bytes(recording)
    server = await start_server(HlsSettings(hls_root=root, port=0, cached_segment_max_kilobytes=1024))
    try:
        client = Client(server, session=None)  # type: ignore[arg-type]
        large = f"GET /hls-live/{URL}/720p/full.mp4 HTTP/1.1\r\nHost: x\r\n\r\n"
        last = f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        response = await raw_exchange(client, (large + last).encode())
        assert response.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert recording in response
        assert response.endswith(b"#EXTM3U\n")
        closing = await raw_exchange(
            client, large.replace("Host: x", "Host: x\r\nConnection: close").encode()
        )
        assert closing.endswith(recording)
    finally:
        await server.stop(grace_seconds=1)


@pytest.mark.parametrize(("trust", "expected"), [(True, 2), (False, 1)])
async def test_behind_a_trusted_proxy_viewers_are_told_apart_by_x_real_ip(
    root: Path, trust: bool, expected: int
) -> None:
    server = await start_server(HlsSettings(hls_root=root, port=0, trust_proxy_headers=trust))
    try:
        async with aiohttp.ClientSession() as session:
            # One proxy connection carries both viewers, as nginx's keep-alive upstream does.
            for address in ("203.0.113.7", "198.51.100.23", "203.0.113.7"):
                headers = {"X-Real-IP": address, "User-Agent": "same-player"}
                async with session.get(
                    f"http://127.0.0.1:{server.port}/hls-live/{URL}.m3u8", headers=headers
                ) as response:
                    assert response.status == 200
        assert server.tracker.counts(now=asyncio.get_running_loop().time()) == {URL: expected}
    finally:
        await server.stop(grace_seconds=1)


async def test_a_malformed_x_real_ip_falls_back_to_the_peer(root: Path) -> None:
    server = await start_server(HlsSettings(hls_root=root, port=0, trust_proxy_headers=True))
    try:
        async with aiohttp.ClientSession() as session:
            for address in ("not-an-address", "127.0.0.1", "203.0.113.7, 198.51.100.23"):
                headers = {"X-Real-IP": address, "User-Agent": "same-player"}
                async with session.get(
                    f"http://127.0.0.1:{server.port}/hls-live/{URL}.m3u8", headers=headers
                ) as response:
                    assert response.status == 200
        assert server.tracker.counts(now=asyncio.get_running_loop().time()) == {URL: 1}
    finally:
        await server.stop(grace_seconds=1)


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("on", True), ("", False), ("0", False)])
def test_trusting_proxy_headers_is_read_from_the_environment(value: str, expected: bool) -> None:
    settings = HlsSettings.from_environment({"HLS_TRUST_PROXY_HEADERS": value})
    assert settings.trust_proxy_headers is expected
    assert HlsSettings.from_environment({}).trust_proxy_headers is False


async def test_made_up_sessions_from_one_address_count_only_up_to_its_share(root: Path) -> None:
    environment = {"HLS_ROOT": str(root), "HLS_PORT": "0", "HLS_MAX_SESSIONS_PER_IP": "5"}
    server = await start_server(HlsSettings.from_environment(environment))
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(server, session)
            for index in range(100):  # a script inflating the count with tokens and agents
                async with await client.get(
                    f"/hls-live/{URL}.m3u8",
                    params={"session": f"forged-{index}"},
                    headers={"User-Agent": f"agent-{index}"},
                ) as response:
                    assert response.status == 200
        counts = server.tracker.counts(now=asyncio.get_running_loop().time())
        assert counts == {URL: 5}
    finally:
        await server.stop(grace_seconds=1)


def test_the_share_of_one_address_is_read_from_the_environment() -> None:
    assert HlsSettings.from_environment({"HLS_MAX_SESSIONS_PER_IP": "4"}).max_sessions_per_ip == 4
    assert HlsSettings.from_environment({"HLS_MAX_VIEWER_SESSIONS": "9"}).max_viewer_sessions == 9


async def test_connections_beyond_the_limit_are_dropped(root: Path) -> None:
    server = await start_server(HlsSettings(hls_root=root, port=0, max_connections=1))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await asyncio.wait_for(reader.readuntil(b"#EXTM3U\n"), timeout=5)
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", server.port)
        extra_writer.write(f"GET /hls-live/{URL}.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            answer = await asyncio.wait_for(extra_reader.read(), timeout=5)
        except ConnectionResetError:  # dropped with a reset
            answer = b""
        assert answer == b""
        extra_writer.close()
        writer.close()
    finally:
        await server.stop(grace_seconds=1)


SEGMENT_FIELDS = (
    "Content-Type",
    "Content-Length",
    "Cache-Control",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
)


async def segment_answer(root: Path, **settings: Any) -> tuple[dict[str, str], bytes, HlsServer]:
    server = await start_server(HlsSettings(hls_root=root, port=0, **settings))
    try:
        async with aiohttp.ClientSession() as session:
            response = await Client(server, session).get(f"/hls-live/{URL}/720p/seg_00000.ts")
            assert response.status == 200
            return {name: response.headers[name] for name in SEGMENT_FIELDS}, await response.read(), server
    finally:
        await server.stop(grace_seconds=1)


async def test_a_segment_from_memory_is_answered_as_from_the_file(root: Path) -> None:
    cached_fields, cached_body, cached = await segment_answer(root)
    file_fields, file_body, streamed = await segment_answer(root, segment_cache_megabytes=0)
    assert len(cached.segments) == 1
    assert len(streamed.segments) == 0
    assert cached_body == file_body == SEGMENT
    assert cached_fields == file_fields


async def test_a_cached_segment_keeps_ranges_preconditions_and_validators(client: Client) -> None:
    path = f"/hls-live/{URL}/720p/seg_00000.ts"
    whole = await client.get(path)
    assert len(client.server.segments) == 1
    part = await client.get(path, headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert await part.read() == SEGMENT[10:20]
    assert part.headers["ETag"] == whole.headers["ETag"]
    refused = await client.get(path, headers={"If-Match": '"another"'})
    assert refused.status == 412
    again = await client.get(path, headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status == 304
    assert again.headers["ETag"] == whole.headers["ETag"]
    head = await client.head(path)
    assert int(head.headers["Content-Length"]) == len(SEGMENT)
    assert await head.read() == b""


async def test_a_segment_replaced_under_its_name_is_served_fresh(client: Client, root: Path) -> None:
    path = f"/hls-live/{URL}/720p/seg_00000.ts"
    assert await (await client.get(path)).read() == SEGMENT
    replacement = root / URL / "720p" / "seg_00000.ts.tmp"
    replacement.write_bytes(b"new segment")
    replacement.replace(root / URL / "720p" / "seg_00000.ts")
    assert await (await client.get(path)).read() == b"new segment"


async def test_a_client_that_stops_reading_a_cached_segment_loses_its_connection(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hls_out.server.SEND_TIMEOUT_SECONDS", 0.3)
    large = bytes(range(256)) * 4096 * 16  # 16 MiB: more than the socket buffers hold
    (root / URL / "720p" / "large.ts").write_bytes(large)
    server = await start_server(HlsSettings(hls_root=root, port=0, cached_segment_max_kilobytes=32 * 1024))
    try:
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        probe.setblocking(False)
        await asyncio.get_running_loop().sock_connect(probe, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=probe)
        writer.write(f"GET /hls-live/{URL}/720p/large.ts HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(1.5)  # not reading, well past the send timeout
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), timeout=5):
                received += chunk
        assert len(server.segments) == 1
        assert len(received) < len(large)
        writer.close()
    finally:
        await server.stop(grace_seconds=1)


def test_the_segment_cache_is_read_from_the_environment() -> None:
    settings = HlsSettings.from_environment(
        {"HLS_SEGMENT_CACHE_MB": "16", "HLS_CACHED_SEGMENT_MAX_KB": "512"}
    )
    assert (settings.segment_cache_megabytes, settings.cached_segment_max_kilobytes) == (16, 512)


async def test_playback_tokens_and_private_videos_over_http(root: Path) -> None:
    """Real HTTP: a private video's plain URL is refused, its tokenized URL plays, a bad token is 403."""
    import time

    from tidecast_common.playback_tokens import PRIVATE_MARKER, mint

    key = "playback-key-for-the-test-000000"
    (root / URL / PRIVATE_MARKER).touch()
    server = await start_server(HlsSettings(hls_root=root, port=0, playback_token_key=key))
    token = mint(key=key.encode(), video_url=URL, expires=int(time.time()) + 60, grace=0)
    expired = mint(key=key.encode(), video_url=URL, expires=int(time.time()) - 1, grace=0)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(server, session)
            for path in (f"/hls-live/{URL}.m3u8", f"/hls-live/{URL}/720p/seg_00000.ts"):
                async with await client.get(path) as response:
                    assert response.status == 404
            async with await client.get(f"/hls-live/t/{token}/{URL}/720p/index.m3u8") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
                assert "seg_00000.ts" in await response.text()
            async with await client.get(f"/hls-live/t/{token}/{URL}/720p/seg_00000.ts") as response:
                assert response.status == 200
                assert await response.read() == SEGMENT
            for bad in (expired, token[:-1] + ("A" if token[-1] != "A" else "B")):
                async with await client.get(f"/hls-live/t/{bad}/{URL}.m3u8") as response:
                    assert response.status == 403
                    assert (await response.json())["code"] == "forbidden"
            async with await client.get(f"/hls-auth/t/{token}/{URL}/720p/seg_00000.ts") as response:
                assert response.status == 204
                assert 0 < int(response.headers["X-Accel-Expires"]) <= 30
    finally:
        await server.stop(grace_seconds=1)
