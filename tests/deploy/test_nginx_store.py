"""Recordings whose local files are gone play through the real nginx from a real SeaweedFS.

nginx serves what is on its disk and asks hls_out for the rest; hls_out reads it from the object
store and applies the playback gate. One public and one private recording live only in the store
(the private one keeps its `.private` marker locally, as the archiver leaves it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.deploy.conftest import URL, Workspace
from tests.deploy.servers import FakeApi, RunningServer, start_hls_out, start_nginx, stop_process
from tests.deploy.test_hls_parity import request
from tests.deploy.test_nginx_private import ffprobe
from tests.netutil import wait_until
from tests.seaweed import SeaweedServer, seaweed_server
from tidecast_common.object_store import hls_key
from tidecast_common.playback_tokens import PRIVATE_MARKER, mint

pytestmark = pytest.mark.integration

__all__ = ["seaweed_server"]

STORED = "deploystored0001"
STORED_PRIVATE = "deploystoredpriv"
STORED_EGRESS = "deploystoredegr1"
KEY = "deploy-store-token-key-0123456789ab"


@dataclass
class StoreSite:
    nginx: RunningServer
    hls_out: RunningServer
    stream: Workspace
    api: FakeApi

    def egress_reported(self, since: int) -> dict[str, int]:
        """The bytes of this test's two videos hls_out reported to the API's egress hook, from request `since` on."""
        total: dict[str, int] = dict.fromkeys((URL, STORED_EGRESS), 0)
        for seen in list(self.api.seen)[since:]:
            if seen["method"] == "POST" and seen["path"] == "/api/internal/egress":
                for video_url, sent in json.loads(seen["body"])["sent"].items():
                    if video_url in total:  # the other tests' figures trail in too
                        total[video_url] += sent
        return total

    def token(self, video_url: str) -> str:
        return mint(key=KEY.encode(), video_url=video_url, expires=int(time.time()) + 60, grace=0)


def upload_copy(stream: Workspace, seaweed: SeaweedServer, video_url: str, *, private: bool = False) -> None:
    """The stream's playlists and segments, renamed to `video_url`, into the store only (below the
    private prefix for a private video, as the archiver puts them)."""
    store = seaweed.store()
    root = stream.hls_root
    master = (root / f"{URL}.m3u8").read_bytes().replace(URL.encode(), video_url.encode())
    store.put_bytes(hls_key(f"{video_url}.m3u8", private=private), master)
    for rendition in ("source", "180p"):
        for path in sorted((root / URL / rendition).iterdir()):
            if path.is_symlink() or path.name.startswith(".") or path.suffix not in (".m3u8", ".m4s", ".mp4"):
                continue
            store.put_file(hls_key(f"{video_url}/{rendition}/{path.name}", private=private), path)


@pytest.fixture(scope="module")
def site(stream: Workspace, fake_api: FakeApi, seaweed_server: SeaweedServer) -> Iterator[StoreSite]:
    seaweed_server.empty_bucket()
    upload_copy(stream, seaweed_server, STORED)
    upload_copy(stream, seaweed_server, STORED_PRIVATE, private=True)
    segment = stream.hls_root / URL / "source" / "seg_00001.m4s"
    seaweed_server.store().put_file(hls_key(f"{STORED_EGRESS}/source/seg_00001.m4s"), segment)
    marker_folder = stream.hls_root / STORED_PRIVATE
    marker_folder.mkdir(mode=0o755, exist_ok=True)
    (marker_folder / PRIVATE_MARKER).touch()
    assert not (stream.hls_root / STORED).exists()
    hls = start_hls_out(
        hls_root=stream.hls_root,
        log=stream.folder / "hls_out_store.log",
        environment={
            "PLAYBACK_TOKEN_KEY": KEY,
            "HLS_EGRESS_LOG": "1",
            "HLS_REPORT_SECRET": "deploy-report-secret",
            "API_BASE_URL": f"http://127.0.0.1:{fake_api.port}",
            "HLS_VIEWER_REPORT_SECONDS": "0.2",
            **seaweed_server.environment(),
        },
    )
    prefix = stream.folder / "nginx-store"
    prefix.mkdir(exist_ok=True)
    nginx = start_nginx(
        prefix=prefix,
        hls_root=stream.hls_root,
        media_root=stream.media_root,
        api_port=fake_api.port,
        hls_port=hls.port,
    )
    try:
        yield StoreSite(nginx=nginx, hls_out=hls, stream=stream, api=fake_api)
    finally:
        stop_process(nginx.process)
        stop_process(hls.process)


def test_a_recording_only_in_the_store_plays_through_nginx(site: StoreSite) -> None:
    result = ffprobe(f"{site.nginx.base_url}/hls-live/{STORED}.m3u8")
    assert result.returncode == 0, result.stderr
    assert "video" in result.stdout.split()
    playlist = request(site.nginx, "GET", f"/hls-live/{STORED}/source/index.m3u8")
    assert playlist.status == 200
    assert playlist.header("Content-Type") == "application/vnd.apple.mpegurl"
    segment = next(line for line in playlist.body.decode().splitlines() if line and not line.startswith("#"))
    answer = request(site.nginx, "GET", f"/hls-live/{STORED}/source/{segment}")
    assert answer.status == 200
    assert answer.header("Access-Control-Allow-Origin") == "*"
    assert answer.body == (site.stream.hls_root / URL / "source" / segment).read_bytes()
    # Neither in the store nor on disk: still the JSON 404.
    assert request(site.nginx, "GET", f"/hls-live/{STORED}/source/seg_99999.ts").status == 404


def test_a_private_recording_in_the_store_needs_a_token(site: StoreSite) -> None:
    segment = f"{STORED_PRIVATE}/source/seg_00000.m4s"
    for path in (f"{STORED_PRIVATE}.m3u8", f"{STORED_PRIVATE}/source/index.m3u8", segment):
        assert request(site.nginx, "GET", f"/hls-live/{path}").status == 404, path
        assert request(site.nginx, "GET", f"/hls-live/t/{site.token(STORED)}/{path}").status == 403, path
    assert request(site.nginx, "GET", f"/hls-live/t/{site.token(STORED_PRIVATE)}/{segment}").status == 200
    result = ffprobe(f"{site.nginx.base_url}/hls-live/t/{site.token(STORED_PRIVATE)}/{STORED_PRIVATE}.m3u8")
    assert result.returncode == 0, result.stderr
    assert "video" in result.stdout.split()


def test_nginx_egress_reaches_the_same_figures_once(site: StoreSite) -> None:
    """What nginx sends from its disk is reported by hls_out from nginx's log lines; what it passed
    on to hls_out (read from the store) is counted by hls_out alone, not twice."""
    since = len(site.api.seen)
    local = request(site.nginx, "GET", f"/hls-live/{URL}/source/seg_00000.m4s")
    ranged = request(site.nginx, "GET", f"/hls-live/{URL}/source/seg_00000.m4s", {"Range": "bytes=0-99"})
    assert request(site.nginx, "HEAD", f"/hls-live/{URL}/source/seg_00000.m4s").status == 200
    etag = local.header("ETag") or ""
    assert (
        request(site.nginx, "GET", f"/hls-live/{URL}/source/seg_00000.m4s", {"If-None-Match": etag}).status
        == 304
    )
    stored = request(site.nginx, "GET", f"/hls-live/{STORED_EGRESS}/source/seg_00001.m4s")
    # A playlist from disk: nginx's line counts it; the viewer count's mirror to hls_out does not.
    master = request(site.nginx, "GET", f"/hls-live/{URL}.m3u8")
    assert (local.status, ranged.status, stored.status, master.status) == (200, 206, 200, 200)
    assert len(ranged.body) == 100
    expected = {URL: len(local.body) + 100 + len(master.body), STORED_EGRESS: len(stored.body)}
    assert wait_until(lambda: site.egress_reported(since) == expected, timeout=10, interval=0.1), (
        site.egress_reported(since),
        expected,
    )
    time.sleep(1.0)  # several report intervals: nothing more arrives
    assert site.egress_reported(since) == expected
