"""Private videos behind the real nginx and hls_out: the plain URL refused, a playback token plays
(ffprobe), a tampered, expired or other video's token refused, and the verdicts cached per token."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import URL, Workspace
from tests.deploy.servers import FakeApi, RunningServer, start_hls_out, start_nginx, stop_process
from tests.deploy.test_hls_parity import request
from tidecast_common.playback_tokens import PRIVATE_MARKER, mint

pytestmark = pytest.mark.integration

PRIVATE = "deployprivate001"
KEY = "deploy-playback-token-key-0123456789"


@dataclass
class PrivateSite:
    nginx: RunningServer
    hls_out: RunningServer
    nginx_prefix: Path

    def token(self, *, video_url: str = PRIVATE, seconds: int = 60, grace: int = 0) -> str:
        return mint(key=KEY.encode(), video_url=video_url, expires=int(time.time()) + seconds, grace=grace)


@pytest.fixture(scope="module")
def site(stream: Workspace, fake_api: FakeApi) -> Iterator[PrivateSite]:
    """A private copy of the transcoded stream, nginx in front of it, and hls_out with the key."""
    root = stream.hls_root
    if not (root / PRIVATE).exists():
        shutil.copytree(root / URL, root / PRIVATE, ignore=shutil.ignore_patterns("leak.ts"))
        (root / f"{PRIVATE}.m3u8").write_bytes(
            (root / f"{URL}.m3u8").read_bytes().replace(URL.encode(), PRIVATE.encode())
        )
        (root / PRIVATE / PRIVATE_MARKER).touch()
    hls = start_hls_out(
        hls_root=root, log=stream.folder / "hls_out_private.log", environment={"PLAYBACK_TOKEN_KEY": KEY}
    )
    prefix = stream.folder / "nginx-private"
    prefix.mkdir(exist_ok=True)
    nginx = start_nginx(
        prefix=prefix, hls_root=root, media_root=stream.media_root, api_port=fake_api.port, hls_port=hls.port
    )
    try:
        yield PrivateSite(nginx=nginx, hls_out=hls, nginx_prefix=prefix)
    finally:
        stop_process(nginx.process)
        stop_process(hls.process)


def ffprobe(url: str) -> subprocess.CompletedProcess[str]:
    argv = ["ffprobe", "-v", "error", "-rw_timeout", "5000000", "-show_entries", "stream=codec_type",
            "-of", "csv=p=0", url]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("server", ["nginx", "hls_out"])
def test_a_private_video_is_refused_without_a_token(site: PrivateSite, server: str) -> None:
    running = getattr(site, server)
    for path in (
        f"/hls-live/{PRIVATE}.m3u8",
        f"/hls-live/{PRIVATE}/source/index.m3u8",
        f"/hls-live/{PRIVATE}/source/seg_00000.m4s",
    ):
        answer = request(running, "GET", path)
        assert answer.status == 404, (server, path)
    assert request(running, "GET", f"/hls-live/{URL}.m3u8").status == 200  # a public one plays as before


@pytest.mark.parametrize("server", ["nginx", "hls_out"])
def test_a_playback_token_plays_in_ffprobe(site: PrivateSite, server: str) -> None:
    running = getattr(site, server)
    result = ffprobe(f"{running.base_url}/hls-live/t/{site.token()}/{PRIVATE}.m3u8")
    assert result.returncode == 0, result.stderr
    assert "video" in result.stdout.split()


@pytest.mark.parametrize("server", ["nginx", "hls_out"])
def test_tampered_expired_and_foreign_tokens_are_403(site: PrivateSite, server: str) -> None:
    running = getattr(site, server)
    good = site.token()
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    longer = good.replace(good.split(".")[0], str(int(good.split(".")[0]) + 3600), 1)
    expired = site.token(seconds=-1)
    foreign = site.token(video_url=URL)
    for token in (tampered, longer, expired, foreign):
        for path in (f"{PRIVATE}.m3u8", f"{PRIVATE}/source/index.m3u8", f"{PRIVATE}/source/seg_00000.m4s"):
            answer = request(running, "GET", f"/hls-live/t/{token}/{path}")
            assert answer.status == 403, (server, token, path)
            assert answer.header("Access-Control-Allow-Origin") == "*"
    assert request(running, "GET", f"/hls-live/t/{good}/{PRIVATE}/source/index.m3u8").status == 200


def test_a_token_expires_behind_nginx_and_its_segments_get_the_grace(site: PrivateSite) -> None:
    """Cached verdicts never outlive the token: the playlist is refused from the expiry on, a
    segment of a playlist fetched in time still comes within the grace."""
    token = site.token(seconds=2, grace=30)
    playlist = f"/hls-live/t/{token}/{PRIVATE}/source/index.m3u8"
    segment = f"/hls-live/t/{token}/{PRIVATE}/source/seg_00000.m4s"
    assert request(site.nginx, "GET", playlist).status == 200
    assert request(site.nginx, "GET", segment).status == 200
    time.sleep(3.1)
    assert request(site.nginx, "GET", playlist).status == 403
    assert request(site.nginx, "GET", segment).status == 200


def test_nginx_asks_hls_out_once_per_token_and_kind(site: PrivateSite) -> None:
    """The verdict is cached: every segment with one token shares one entry, playlists another."""
    token = site.token()
    for number in range(3):
        path = f"/hls-live/t/{token}/{PRIVATE}/source/seg_0000{number}.m4s"
        assert request(site.nginx, "GET", path).status in (200, 404)
    assert request(site.nginx, "GET", f"/hls-live/t/{token}/{PRIVATE}/source/index.m3u8").status == 200
    assert request(site.nginx, "GET", f"/hls-live/t/{token}/{PRIVATE}.m3u8").status == 200
    entries = [
        path
        for path in (site.nginx_prefix / "cache").rglob("*")
        if path.is_file() and token.encode() in path.read_bytes()
    ]
    assert len(entries) == 2
