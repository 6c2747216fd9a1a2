"""A real HLS stream from the transcoder, served by nginx (the project's config) and by hls_out.

Everything lives in one world-readable temporary folder (nginx's workers run as another user):
    hls/     the HLS root: a stream transcoded by LiveTranscode from an ffmpeg FLV, plus the odd
             files a root may hold (leftover temporaries, non-HLS files, symlinks out)
    media/   the media root nginx serves at /media/
    secret.ts and outside/   what no request may ever reach
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.servers import (
    FakeApi,
    RunningServer,
    start_fake_api,
    start_hls_out,
    start_nginx,
    stop_process,
)
from tests.netutil import free_port
from tidecast_common import flv
from transcoder.live import LiveTranscode

URL = "deploytest000001"
LADDER = [{"name": "180p", "height": 180, "video_kbps": 300, "audio_kbps": 64, "profile": "baseline"}]
SECRET = b"outside the HLS root"


@dataclass(frozen=True)
class Workspace:
    folder: Path

    @property
    def hls_root(self) -> Path:
        return self.folder / "hls"

    @property
    def media_root(self) -> Path:
        return self.folder / "media"


def make_flv(path: Path, *, seconds: float) -> Path:
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "25", "-b:v", "400k", "-c:a", "aac", "-b:a", "64k", "-f", "flv", str(path)]  # fmt: skip
    subprocess.run(argv, check=True, timeout=60)
    return path


async def publish(source: Path, *, hls_root: Path, video_url: str, pace: float | None = None) -> None:
    """Feed an FLV file's tags to LiveTranscode (at `pace` times real time, or flat out), then end it."""
    transcode = LiveTranscode(
        video_url=video_url, ladder=LADDER, hls_root=hls_root, segment_seconds=1, preset="ultrafast"
    )
    await transcode.on_metadata({"framerate": 25.0, "videodatarate": 400.0, "audiodatarate": 64.0})
    started = asyncio.get_running_loop().time()
    try:
        data = await asyncio.to_thread(source.read_bytes)
        for tag in flv.iter_tags(data):
            if tag.tag_type == flv.TAG_SCRIPT:
                continue
            if pace is not None:
                delay = tag.timestamp_ms / 1000 / pace - (asyncio.get_running_loop().time() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            await transcode.feed(tag.tag_type, tag.timestamp_ms, tag.payload)
    finally:
        await transcode.stop()


@pytest.fixture(scope="session")
def workspace() -> Iterator[Workspace]:
    folder = Path(tempfile.mkdtemp(prefix="tidecast-deploy-"))
    folder.chmod(0o755)
    try:
        yield Workspace(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def source_flv(workspace: Workspace) -> Path:
    return make_flv(workspace.folder / "source.flv", seconds=4)


@pytest.fixture(scope="session")
def stream(workspace: Workspace, source_flv: Path) -> Workspace:
    """The HLS root with one ended stream from the real transcoder, and files that must not be served."""
    root = workspace.hls_root
    root.mkdir(mode=0o755)
    workspace.media_root.mkdir(mode=0o755)
    asyncio.run(publish(source_flv, hls_root=root, video_url=URL))
    for rendition in ("source", "180p"):
        folder = root / URL / rendition
        (folder / ".index.m3u8.1234.tmp").write_text("#EXTM3U\n")
        (folder / "index.m3u8.tmp").write_text("#EXTM3U\n")
        (folder / "notes.txt").write_text("not HLS")
    # fMP4 names, for their content types.
    fragmented = root / URL / "fmp4"
    fragmented.mkdir(mode=0o755)
    (fragmented / "init.mp4").write_bytes(b"\x00\x00\x00\x18ftypiso6" + bytes(12))
    (fragmented / "seg_00000.m4s").write_bytes(b"\x00\x00\x00\x10moof" + bytes(8))
    # Ways out of the root that must stay shut.
    (workspace.folder / "secret.ts").write_bytes(SECRET)
    (workspace.folder / "outside" / "source").mkdir(parents=True)
    (workspace.folder / "outside" / "source" / "seg_00000.ts").write_bytes(SECRET)
    (root / URL / "source" / "leak.ts").symlink_to(workspace.folder / "secret.ts")
    (root / "zzzzzzzzzzzzzzzz").symlink_to(workspace.folder / "outside", target_is_directory=True)
    return workspace


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeApi]:
    api = start_fake_api()
    yield api
    api.stop()


def start_site_nginx(
    stream: Workspace, fake_api: FakeApi, name: str, *, admin_allow_from: str = "", trusted_proxies: str = ""
) -> RunningServer:
    """nginx over the stream's folders in front of the stand-in API, from the prefix `name`.

    Nothing listens on the viewer-counting port: every HLS check also shows the client's answer
    does not depend on hls_out being up.
    """
    prefix = stream.folder / name
    prefix.mkdir()
    return start_nginx(
        prefix=prefix,
        hls_root=stream.hls_root,
        media_root=stream.media_root,
        api_port=fake_api.port,
        hls_port=free_port(),
        admin_allow_from=admin_allow_from,
        trusted_proxies=trusted_proxies,
    )


@pytest.fixture(scope="session")
def nginx(stream: Workspace, fake_api: FakeApi) -> Iterator[RunningServer]:
    server = start_site_nginx(stream, fake_api, "nginx")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def hls_out(stream: Workspace) -> Iterator[RunningServer]:
    server = start_hls_out(hls_root=stream.hls_root, log=stream.folder / "hls_out.log")
    yield server
    stop_process(server.process)


@pytest.fixture(params=["hls_out", "nginx"])
def hls_server(request: pytest.FixtureRequest) -> RunningServer:
    """Each HLS check runs against both servers, on the same folder."""
    server: RunningServer = request.getfixturevalue(request.param)
    return server
