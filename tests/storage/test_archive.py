"""transcoder.archive against a real SeaweedFS, with a writer that behaves as ffmpeg's HLS muxer
(a segment renamed into place, then the playlist that lists it, renamed into place too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.seaweed import SeaweedServer
from tidecast_common.layout import HlsLayout
from tidecast_common.object_store import master_key, video_prefix
from transcoder.archive import STORED_MARKER, ArchiveSettings, LiveArchiver, playlist_files

URL = "abcdefgh12345678"
RENDITIONS = ("source", "360p")


def test_playlist_files_lists_segments_and_the_init_segment() -> None:
    text = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.0,\nseg_00001.m4s\n\n#EXTINF:2.0,\nseg_00002.m4s\n'
    assert playlist_files(text) == ["init.mp4", "seg_00001.m4s", "seg_00002.m4s"]


class FakeMuxer:
    """Writes what ffmpeg's HLS muxer writes, in its order."""

    def __init__(self, layout: HlsLayout) -> None:
        self.layout = layout
        self.count = 0

    def _replace(self, path: Path, data: bytes) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)

    def playlist(self, *, ended: bool = False) -> str:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"]
        for number in range(1, self.count + 1):
            lines += ["#EXTINF:2.000000,", f"seg_{number:05d}.ts"]
        if ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def segment(self) -> None:
        self.count += 1
        for rendition in RENDITIONS:
            folder = self.layout.rendition_dir(URL, rendition)
            folder.mkdir(parents=True, exist_ok=True)
            self._replace(
                folder / f"seg_{self.count:05d}.ts", bytes([self.count % 256]) * (1000 + self.count)
            )
            self._replace(folder / "index.m3u8", self.playlist().encode())

    def end(self) -> None:
        for rendition in RENDITIONS:
            self._replace(self.layout.variant_playlist(URL, rendition), self.playlist(ended=True).encode())
        self._replace(
            self.layout.master(URL),
            b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nabcdefgh12345678/source/index.m3u8\n",
        )


def archive_settings(seaweed: SeaweedServer, *, grace: float = 0.5) -> ArchiveSettings:
    return ArchiveSettings(
        store=seaweed.settings(), upload_concurrency=4, local_grace_seconds=grace,
        retry_min_seconds=0.2, retry_max_seconds=1.0,
    )  # fmt: skip


def stored_keys(seaweed: SeaweedServer) -> set[str]:
    return {item.key for item in seaweed.store().list_prefix("hls/")}


async def wait_for(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.05)
    return await asyncio.to_thread(predicate)


async def test_segments_reach_the_store_before_their_playlist_and_the_recording_ends_complete(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    layout = HlsLayout(tmp_path / "hls")
    reported: list[str] = []

    async def stored(video_url: str) -> bool:
        reported.append(video_url)
        return True

    readable: dict[str, float] = {}
    archiver = LiveArchiver(
        settings=archive_settings(seaweed), hls_root=layout.root, on_stored=stored,
        on_segment_stored=lambda key, at: readable.setdefault(key, at),
    )  # fmt: skip
    muxer = FakeMuxer(layout)
    archiver.stream_started(URL)
    closed: dict[str, float] = {}
    for _ in range(5):
        muxer.segment()
        closed[f"{video_prefix(URL)}source/seg_{muxer.count:05d}.ts"] = time.monotonic()
        await asyncio.sleep(0.3)
        # every playlist in the store lists only segments that are there
        store = seaweed.store()
        for rendition in RENDITIONS:
            text = await asyncio.to_thread(
                store.get_bytes, f"{video_prefix(URL)}{rendition}/index.m3u8", max_bytes=10**6
            )
            keys = stored_keys(seaweed)
            for name in playlist_files((text or b"").decode()):
                assert f"{video_prefix(URL)}{rendition}/{name}" in keys
    muxer.end()
    archiver.stream_ended(URL)
    assert await wait_for(lambda: reported == [URL], within=10)
    keys = stored_keys(seaweed)
    expected = {master_key(URL)} | {
        f"{video_prefix(URL)}{r}/{n}"
        for r in RENDITIONS
        for n in ("index.m3u8", *(f"seg_{i:05d}.ts" for i in range(1, 6)))
    }
    assert keys == expected
    store = seaweed.store()
    for rendition in RENDITIONS:
        text = store.get_bytes(f"{video_prefix(URL)}{rendition}/index.m3u8", max_bytes=10**6) or b""
        assert text.decode().rstrip().endswith("#EXT-X-ENDLIST")
    delays = {key: round(readable[key] - closed[key], 3) for key in closed}
    assert max(delays.values()) < 1.0, delays
    # the local copy goes after the grace period
    assert await wait_for(
        lambda: not layout.video_dir(URL).exists() and not layout.master(URL).exists(), within=5
    )
    await archiver.close()


async def test_the_store_down_delays_nothing_and_is_caught_up_after(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    layout = HlsLayout(tmp_path / "hls")
    archiver = LiveArchiver(settings=archive_settings(seaweed, grace=60), hls_root=layout.root)
    muxer = FakeMuxer(layout)
    archiver.stream_started(URL)
    muxer.segment()
    assert await wait_for(lambda: len(stored_keys(seaweed)) == 4, within=5)
    await asyncio.to_thread(seaweed.stop)
    for _ in range(3):
        started = time.monotonic()
        muxer.segment()
        assert time.monotonic() - started < 0.1  # the writer never waits for the store
        await asyncio.sleep(0.5)
    await asyncio.to_thread(seaweed.start)
    muxer.end()
    archiver.stream_ended(URL)
    assert await wait_for(lambda: archiver.stored(URL), within=20)
    assert len(stored_keys(seaweed)) == 2 * (4 + 1) + 1
    await archiver.close()


async def test_a_restart_catches_up_what_a_crash_left(seaweed: SeaweedServer, tmp_path: Path) -> None:
    layout = HlsLayout(tmp_path / "hls")
    muxer = FakeMuxer(layout)
    for _ in range(3):
        muxer.segment()
    muxer.end()
    (layout.root / "not-a-video").mkdir()
    archiver = LiveArchiver(settings=archive_settings(seaweed, grace=60), hls_root=layout.root)
    await archiver.start()
    assert await wait_for(lambda: archiver.stored(URL), within=15)
    assert len(stored_keys(seaweed)) == 2 * (3 + 1) + 1
    assert (layout.video_dir(URL) / STORED_MARKER).exists()
    await archiver.close()


def test_the_local_copy_goes_but_a_private_marker_stays(tmp_path):
    from tidecast_common.playback_tokens import PRIVATE_MARKER
    from transcoder.archive import remove_media_keeping_marker

    folder = tmp_path / URL
    (folder / "source").mkdir(parents=True)
    (folder / "source" / "seg_00000.m4s").write_bytes(b"x")
    (folder / PRIVATE_MARKER).write_text("")
    remove_media_keeping_marker(folder)
    assert [p.name for p in folder.iterdir()] == [PRIVATE_MARKER]
    (folder / PRIVATE_MARKER).unlink()
    (folder / "source").mkdir()
    remove_media_keeping_marker(folder)
    assert not folder.exists()
