"""The HLS server over real HTTP (aiohttp's test server on a loopback port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hls_out.server import TRACKER_KEY, create_app
from hls_out.settings import HlsSettings

URL = "abcdefgh12345678"
SEGMENT = bytes(range(256)) * 40


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


@pytest.fixture
async def client(root: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_app(HlsSettings(hls_root=root))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def raw_get(client: TestClient, path: str) -> tuple[int, bytes]:  # type: ignore[type-arg]
    """A request sent byte for byte, so no client library normalizes the path first."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.partition(b"\r\n\r\n")[2]


async def test_master_playlist_is_served_uncached_with_cors(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get(f"/hls-live/{URL}.m3u8")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in response.headers["Access-Control-Expose-Headers"]
    assert await response.text() == "#EXTM3U\n"


async def test_segments_are_long_cacheable_with_their_types(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts")
    assert response.status == 200
    assert response.headers["Content-Type"] == "video/mp2t"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "ETag" in response.headers
    assert "Last-Modified" in response.headers
    assert await response.read() == SEGMENT
    fragmented = await client.get(f"/hls-live/{URL}/720p/seg_00001.m4s")
    assert fragmented.headers["Content-Type"] == "video/mp4"


async def test_range_requests_get_206(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts", headers={"Range": "bytes=100-199"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(SEGMENT)}"
    assert await response.read() == SEGMENT[100:200]


async def test_conditional_requests_get_304(client: TestClient) -> None:  # type: ignore[type-arg]
    first = await client.get(f"/hls-live/{URL}/720p/seg_00000.ts")
    again = await client.get(
        f"/hls-live/{URL}/720p/seg_00000.ts", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304


async def test_cors_preflight(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.options(
        f"/hls-live/{URL}/720p/seg_00000.ts",
        headers={"Origin": "http://player.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Range" in response.headers["Access-Control-Allow-Headers"]


async def test_head_gives_the_length_without_a_body(client: TestClient) -> None:  # type: ignore[type-arg]
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
async def test_traversal_on_the_wire_is_refused(client: TestClient, path: str, status: int) -> None:  # type: ignore[type-arg]
    got, body = await raw_get(client, path)
    assert got == status
    assert b"outside" not in body


async def test_symlink_out_of_the_root_is_not_served(client: TestClient, root: Path) -> None:  # type: ignore[type-arg]
    (root / URL / "720p" / "leak.ts").symlink_to(root.parent / "secret.ts")
    response = await client.get(f"/hls-live/{URL}/720p/leak.ts")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"


async def test_playback_sessions_are_counted_per_video(client: TestClient) -> None:  # type: ignore[type-arg]
    for agent in ("player-a", "player-b", "player-a"):
        await client.get(f"/hls-live/{URL}/720p/index.m3u8", headers={"User-Agent": agent})
    await client.get(f"/hls-live/{URL}.m3u8", params={"session": "tab-1"})
    await client.get(f"/hls-live/{URL}/720p/missing.ts", headers={"User-Agent": "player-c"})
    tracker = client.app[TRACKER_KEY]  # type: ignore[index]
    assert tracker.counts(now=asyncio.get_running_loop().time()) == {URL: 3}


async def test_playlists_carry_validators_and_answer_304(client: TestClient) -> None:  # type: ignore[type-arg]
    first = await client.get(f"/hls-live/{URL}/720p/index.m3u8")
    assert "Last-Modified" in first.headers
    again = await client.get(
        f"/hls-live/{URL}/720p/index.m3u8", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status == 304
