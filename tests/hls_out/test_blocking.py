"""Low-Latency HLS in the HLS server over real HTTP: blocking reloads, delta updates, hinted parts.

A packager stand-in writes parts and playlists the way `transcoder.package` does (the same
`RenditionPackager`, files renamed into place); the server learns of them through inotify.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hls_out.server import HlsServer
from hls_out.settings import HlsSettings
from tidecast_common.llhls import MediaPlaylist, playlist_state
from transcoder.cmaf import FragmentInfo
from transcoder.llhls import RenditionPackager
from transcoder.package import write_atomically

URL = "abcdefgh12345678"
PLAYLIST = f"/hls-live/{URL}/360p/index.m3u8"


class Packager:
    """Writes one rendition's fragments of a third of a second, a keyframe every second."""

    def __init__(self, folder: Path, *, segment_seconds: int = 1) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.packager = RenditionPackager(
            playlist=MediaPlaylist(segment_seconds=segment_seconds, part_target=0.334),
            run=0,
            segment_seconds=segment_seconds,
            fps=30,
            wall_clock_start=time.time(),
        )
        self.count = 0

    def fragment(self) -> None:
        index = self.count
        self.count += 1
        info = FragmentInfo(index / 3, 1 / 3, index % 3 == 0)
        output = self.packager.fragment(f"fragment {index}".encode(), info)
        for name, data in output.files:
            write_atomically(self.folder / name, data)
        write_atomically(self.folder / "index.m3u8", self.packager.playlist.render().encode())


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[HlsServer]:
    settings = HlsSettings(host="127.0.0.1", port=0, hls_root=tmp_path / "hls", max_blocking_requests=50)
    server = HlsServer(settings)
    await server.start()
    yield server
    await server.stop(grace_seconds=0.5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


@pytest.fixture
def packager(tmp_path: Path) -> Packager:
    writer = Packager(tmp_path / "hls" / URL / "360p")
    for _ in range(4):  # segment 0 and the first part of segment 1
        writer.fragment()
    return writer


def url(server: HlsServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def test_a_blocking_reload_is_answered_as_soon_as_the_part_is_published(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    state = playlist_state((packager.folder / "index.m3u8").read_text())
    assert (state.last_msn, state.parts) == (0, 1)
    request = asyncio.create_task(session.get(url(server, f"{PLAYLIST}?_HLS_msn=1&_HLS_part=1")))
    await asyncio.sleep(0.5)
    assert not request.done()  # held: part 1 of segment 1 does not exist yet
    assert server.low_latency is not None
    assert server.low_latency.waiting == 1
    published = time.monotonic()
    packager.fragment()
    response = await request
    answered = time.monotonic() - published
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    text = await response.text()
    assert playlist_state(text).parts == 2
    assert answered < 0.25, answered
    assert server.low_latency.waiting == 0


async def test_what_exists_is_answered_at_once_and_too_far_ahead_is_400(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    started = time.monotonic()
    async with session.get(url(server, f"{PLAYLIST}?_HLS_msn=0")) as response:
        assert response.status == 200
    async with session.get(url(server, f"{PLAYLIST}?_HLS_msn=1&_HLS_part=0")) as response:
        assert response.status == 200
    assert time.monotonic() - started < 0.5
    async with session.get(url(server, f"{PLAYLIST}?_HLS_msn=3")) as response:
        assert response.status == 400
    for query in ("_HLS_msn=x", "_HLS_part=1", "_HLS_msn=1&_HLS_skip=maybe", "_HLS_msn=-1"):
        async with session.get(url(server, f"{PLAYLIST}?{query}")) as response:
            assert response.status == 400, query


async def test_a_request_that_is_never_satisfied_gets_503_after_three_target_durations(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    started = time.monotonic()
    async with session.get(url(server, f"{PLAYLIST}?_HLS_msn=2")) as response:
        assert response.status == 503
    assert 2.9 < time.monotonic() - started < 4.0  # target duration 1 s


async def test_a_delta_update_skips_the_old_segments(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    for _ in range(3 * 10):
        packager.fragment()
    state = playlist_state((packager.folder / "index.m3u8").read_text())
    async with session.get(url(server, f"{PLAYLIST}?_HLS_msn={state.last_msn}&_HLS_skip=YES")) as response:
        assert response.status == 200
        delta = await response.text()
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=5" in delta
    assert delta.count("#EXTINF") == state.last_msn + 1 - 5
    async with session.get(url(server, PLAYLIST)) as response:
        assert "#EXT-X-SKIP" not in await response.text()


async def test_the_hinted_part_is_held_until_it_is_written_and_other_missing_parts_are_404(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    hint = playlist_state((packager.folder / "index.m3u8").read_text()).preload_hint
    assert hint == "part_000004.m4s"
    request = asyncio.create_task(session.get(url(server, f"/hls-live/{URL}/360p/{hint}")))
    started = time.monotonic()
    async with session.get(url(server, f"/hls-live/{URL}/360p/part_000009.m4s")) as response:
        assert response.status == 404
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.3)
    assert not request.done()
    packager.fragment()
    response = await request
    assert response.status == 200
    assert await response.read() == b"fragment 4"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_many_waiting_requests_are_woken_by_one_publish(
    server: HlsServer, session: aiohttp.ClientSession, packager: Packager
) -> None:
    requests = [
        asyncio.create_task(session.get(url(server, f"{PLAYLIST}?_HLS_msn=1&_HLS_part=1&session={n}")))
        for n in range(40)
    ]
    await asyncio.sleep(0.5)
    assert server.low_latency is not None
    assert server.low_latency.waiting == 40
    packager.fragment()
    responses = await asyncio.gather(*requests)
    assert [r.status for r in responses] == [200] * 40
    for response in responses:
        response.release()
