"""One set of HLS checks, run against hls_out and against nginx with the project's config.

Both serve the same folder, written by the real transcoder: whatever a player or an attacker
sees from one, it must see from the other (types, caching, CORS, ranges, validators, refusals).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import pytest

from tests.deploy.conftest import SECRET, URL, Workspace, publish
from tests.deploy.servers import RunningServer

pytestmark = pytest.mark.integration

EXPOSED = {"Content-Length", "Content-Range", "Accept-Ranges", "ETag"}
SEGMENT_CACHE = "public, max-age=31536000, immutable"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def request(server: RunningServer, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def raw_request(server: RunningServer, target: bytes) -> tuple[int, bytes]:
    """A request line sent byte for byte: no client library normalizes or encodes the path."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response.split(b" ", 2)[1]), response.partition(b"\r\n\r\n")[2]


def assert_cors(answer: Answer) -> None:
    assert answer.header("Access-Control-Allow-Origin") == "*"
    exposed = {name.strip() for name in (answer.header("Access-Control-Expose-Headers") or "").split(",")}
    assert exposed >= EXPOSED


def segment_names(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def first_segment(root: Path) -> tuple[str, bytes]:
    name = segment_names((root / URL / "180p" / "index.m3u8").read_text())[0]
    return f"/hls-live/{URL}/180p/{name}", (root / URL / "180p" / name).read_bytes()


def test_master_playlist_is_uncached_with_its_type_and_cors(
    hls_server: RunningServer, stream: Workspace
) -> None:
    answer = request(hls_server, "GET", f"/hls-live/{URL}.m3u8")
    assert answer.status == 200
    assert answer.header("Content-Type") == "application/vnd.apple.mpegurl"
    assert answer.header("Cache-Control") == "no-cache"
    assert_cors(answer)
    assert answer.body == (stream.hls_root / f"{URL}.m3u8").read_bytes()
    master = answer.body.decode()
    assert master.count("#EXT-X-STREAM-INF:") == 2
    assert re.search(r"RESOLUTION=\d+x180", master)


@pytest.mark.parametrize("rendition", ["source", "180p"])
def test_variant_playlists_and_every_segment_are_served_as_written(
    hls_server: RunningServer, stream: Workspace, rendition: str
) -> None:
    folder = stream.hls_root / URL / rendition
    playlist = request(hls_server, "GET", f"/hls-live/{URL}/{rendition}/index.m3u8")
    assert playlist.status == 200
    assert playlist.header("Content-Type") == "application/vnd.apple.mpegurl"
    assert playlist.header("Cache-Control") == "no-cache"
    assert playlist.body.decode().rstrip().endswith("#EXT-X-ENDLIST")
    names = segment_names(playlist.body.decode())
    assert len(names) >= 2
    for name in names:
        segment = request(hls_server, "GET", f"/hls-live/{URL}/{rendition}/{name}")
        assert segment.status == 200
        assert segment.header("Content-Type") == "video/mp4"
        assert segment.header("Cache-Control") == SEGMENT_CACHE
        assert segment.header("Accept-Ranges") == "bytes"
        assert segment.header("ETag")
        assert segment.header("Last-Modified")
        assert_cors(segment)
        assert segment.body == (folder / name).read_bytes()
        assert segment.body[4:8] == b"moof"  # a fragmented MP4 segment: its first fragment


@pytest.mark.parametrize(
    ("name", "content_type"), [("init.mp4", "video/mp4"), ("seg_00000.m4s", "video/mp4")]
)
def test_fragmented_mp4_names_get_video_mp4(hls_server: RunningServer, name: str, content_type: str) -> None:
    answer = request(hls_server, "GET", f"/hls-live/{URL}/fmp4/{name}")
    assert answer.status == 200
    assert answer.header("Content-Type") == content_type
    assert answer.header("Cache-Control") == SEGMENT_CACHE


def test_head_gives_the_length_without_a_body(hls_server: RunningServer, stream: Workspace) -> None:
    path, data = first_segment(stream.hls_root)
    answer = request(hls_server, "HEAD", path)
    assert answer.status == 200
    assert int(answer.header("Content-Length") or -1) == len(data)
    assert answer.body == b""


@pytest.mark.parametrize(
    ("range_value", "expected"),
    [("bytes=100-199", slice(100, 200)), ("bytes=-188", slice(-188, None)), ("bytes=376-", slice(376, None))],
)
def test_single_ranges_get_206_with_exactly_those_bytes(
    hls_server: RunningServer, stream: Workspace, range_value: str, expected: slice
) -> None:
    path, data = first_segment(stream.hls_root)
    answer = request(hls_server, "GET", path, {"Range": range_value})
    assert answer.status == 206
    start, stop, _ = expected.indices(len(data))
    assert answer.header("Content-Range") == f"bytes {start}-{stop - 1}/{len(data)}"
    assert answer.body == data[expected]
    assert_cors(answer)


def test_several_ranges_get_the_whole_file(hls_server: RunningServer, stream: Workspace) -> None:
    path, data = first_segment(stream.hls_root)
    answer = request(hls_server, "GET", path, {"Range": "bytes=0-9,20-29"})
    assert answer.status == 200
    assert answer.body == data


def test_unsatisfiable_ranges_get_416(hls_server: RunningServer, stream: Workspace) -> None:
    path, data = first_segment(stream.hls_root)
    answer = request(hls_server, "GET", path, {"Range": f"bytes={len(data) + 10}-"})
    assert answer.status == 416
    assert answer.header("Content-Range") == f"bytes */{len(data)}"


def test_conditional_requests_get_304(hls_server: RunningServer, stream: Workspace) -> None:
    path, _ = first_segment(stream.hls_root)
    first = request(hls_server, "GET", path)
    by_etag = request(hls_server, "GET", path, {"If-None-Match": first.header("ETag") or ""})
    assert by_etag.status == 304
    assert by_etag.body == b""
    by_date = request(hls_server, "GET", path, {"If-Modified-Since": first.header("Last-Modified") or ""})
    assert by_date.status == 304
    modified = parsedate_to_datetime(first.header("Last-Modified") or "").timestamp()
    stale = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(modified - 3600))
    assert request(hls_server, "GET", path, {"If-Modified-Since": stale}).status == 200
    assert request(hls_server, "GET", path, {"If-None-Match": '"other"'}).status == 200


@pytest.mark.parametrize("path", [f"/hls-live/{URL}/180p/index.m3u8", f"/hls-live/{URL}/180p/missing.ts"])
def test_cors_preflight(hls_server: RunningServer, path: str) -> None:
    answer = request(
        hls_server,
        "OPTIONS",
        path,
        {"Origin": "https://player.example", "Access-Control-Request-Method": "GET",
         "Access-Control-Request-Headers": "range"},
    )  # fmt: skip
    assert answer.status == 204
    assert_cors(answer)
    assert {"GET", "HEAD", "OPTIONS"} <= {
        method.strip() for method in (answer.header("Access-Control-Allow-Methods") or "").split(",")
    }
    assert "Range" in (answer.header("Access-Control-Allow-Headers") or "")
    assert answer.header("Access-Control-Max-Age") == "86400"
    assert answer.header("Cache-Control") is None


def test_preflight_fields_are_not_sent_on_plain_requests(hls_server: RunningServer) -> None:
    answer = request(hls_server, "GET", f"/hls-live/{URL}.m3u8")
    assert answer.header("Access-Control-Allow-Methods") is None
    assert answer.header("Access-Control-Max-Age") is None


def test_other_methods_get_405_with_allow(hls_server: RunningServer) -> None:
    answer = request(hls_server, "POST", f"/hls-live/{URL}.m3u8")
    assert answer.status == 405
    assert answer.header("Allow") == "GET, HEAD, OPTIONS"
    assert answer.header("Content-Type") == "application/json"
    assert json.loads(answer.body)["code"] == "method_not_allowed"


TRAVERSALS = [
    # (raw request target, status) — the same answer from both servers.
    (f"/hls-live/{URL}/../../secret.ts", 400),
    ("/hls-live/../secret.ts", 400),
    (f"/hls-live/{URL}/source/..", 400),
    ("/hls-live/%2e%2e/secret.ts", 400),
    ("/hls-live/%2E%2E/secret.ts", 400),
    (f"/hls-live/{URL}/source/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.ts", 400),
    ("/hls-live/..%2fsecret.ts", 400),
    ("/hls-live/..%5csecret.ts", 400),
    ("/hls-live/%252e%252e/secret.ts", 400),
    ("/hls-live/%c0%ae%c0%ae/secret.ts", 400),
    ("/hls-live/..\\secret.ts", 400),
    ("/hls-live//etc/passwd.ts", 400),
    (f"/hls-live/{URL}/source/seg_00000%00.ts", 400),
    (f"/hls-live/%64{URL[1:]}.m3u8", 400),  # even a harmless escape: nothing is ever decoded
    ("/hls-live/\u2025/secret.ts", 400),
    ("/hls-live/" + "a" * 300 + ".ts", 400),
    (f"/hls-live/{URL}/source/missing.ts", 404),
    (f"/hls-live/{URL}/source/index.m3u8.tmp", 404),
    (f"/hls-live/{URL}/source/.index.m3u8.1234.tmp", 404),
    (f"/hls-live/{URL}/source/notes.txt", 404),
    (f"/hls-live/{URL}/source", 404),
    (f"/hls-live/{URL}/", 404),
    (f"/hls-live/{URL}", 404),
    ("/hls-live/", 404),
    (f"/hls-live/{URL.upper()}.m3u8", 404),
    (f"/hls-live/{URL}/a/b/c.ts", 404),
    (f"/hls-live/{URL}/source/leak.ts", 404),  # a symlink to a file outside the root
    ("/hls-live/zzzzzzzzzzzzzzzz/source/seg_00000.ts", 404),  # a symlinked folder outside
]


@pytest.mark.parametrize(("target", "status"), TRAVERSALS)
def test_traversal_and_unservable_paths_are_refused(
    hls_server: RunningServer, stream: Workspace, target: str, status: int
) -> None:
    got, body = raw_request(hls_server, target.encode())
    assert got == status
    assert SECRET not in body
    assert json.loads(body)["code"] == ("bad_request" if status == 400 else "not_found")


@pytest.mark.parametrize(
    "target",
    [
        "/etc/passwd",
        "/secret.ts",
        f"/%68ls-live/{URL}/../../secret.ts",
        "/x/../../secret.ts",
        "/hls-live%2f..%2fsecret.ts",
    ],
)
def test_paths_outside_hls_never_reach_the_folder(
    hls_server: RunningServer, stream: Workspace, target: str
) -> None:
    """Outside /hls-live/ hls_out refuses; nginx hands the path to the API, which has no such page."""
    got, body = raw_request(hls_server, target.encode())
    assert got in (400, 404)
    assert SECRET not in body


def test_errors_carry_cors_so_players_can_read_them(hls_server: RunningServer) -> None:
    answer = request(hls_server, "GET", f"/hls-live/{URL}/source/missing.ts")
    assert answer.status == 404
    assert answer.header("Content-Type") == "application/json"
    assert_cors(answer)


def test_a_playlist_replaced_by_rename_is_served_fresh(hls_server: RunningServer, stream: Workspace) -> None:
    folder = stream.hls_root / URL / f"swap-{hls_server.name.replace('_', '-')}"
    folder.mkdir(mode=0o755, exist_ok=True)
    playlist = folder / "index.m3u8"
    path = f"/hls-live/{URL}/{folder.name}/index.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:1.0,\nseg_00000.ts\n")
    first = request(hls_server, "GET", path)
    replacement = folder / ".index.m3u8.tmp"
    replacement.write_text("#EXTM3U\n#EXTINF:1.0,\nseg_00000.ts\n#EXTINF:1.0,\nseg_00001.ts\n")
    replacement.replace(playlist)
    again = request(hls_server, "GET", path)
    assert again.body.decode().endswith("seg_00001.ts\n")
    assert again.header("ETag") != first.header("ETag")


async def test_a_live_stream_grows_and_ends_as_it_is_served(
    hls_server: RunningServer, stream: Workspace, source_flv: Path
) -> None:
    """Published at twice real time: the playlist as served grows segment by segment, then ends."""
    video_url = f"live{hls_server.name.replace('_', '')}".ljust(16, "0")[:16]
    playlist_path = f"/hls-live/{video_url}/180p/index.m3u8"
    publishing = asyncio.create_task(
        publish(source_flv, hls_root=stream.hls_root, video_url=video_url, pace=2.0)
    )
    counts: list[int] = []
    async with aiohttp.ClientSession(base_url=hls_server.base_url) as session:
        while not publishing.done():
            async with session.get(playlist_path) as response:
                if response.status == 200:
                    assert response.headers["Cache-Control"] == "no-cache"
                    text = await response.text()
                    if "#EXT-X-ENDLIST" not in text:
                        counts.append(len(segment_names(text)))
                else:
                    assert response.status == 404
            await asyncio.sleep(0.1)
        await publishing
        async with session.get(playlist_path) as response:
            final = await response.text()
            assert response.status == 200
        async with session.get(f"/hls-live/{video_url}.m3u8") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    assert len(set(counts)) >= 2, counts  # seen live and growing, not only once complete
    assert counts == sorted(counts)
    assert len(segment_names(final)) >= max(counts)
