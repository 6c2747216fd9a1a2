"""Low-Latency HLS behind nginx: blocking reloads and the preload-hinted part reach a real
`python -m hls_out` and come back unbuffered; parts that exist are nginx's own static files.
With a certificate, nginx serves the same over HTTPS and HTTP/2 (real curl, ALPN)."""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.servers import (
    RunningServer,
    TlsListener,
    start_fake_api,
    start_hls_out,
    start_nginx,
    stop_process,
)
from tests.deploy.test_hls_parity import Answer, request
from tests.hls_out.test_blocking import Packager
from tests.netutil import free_port
from tidecast_common.llhls import playlist_state
from tidecast_common.tls import write_self_signed_certificate

pytestmark = pytest.mark.integration

URL = "lowlatency000001"
VARIANT = f"/hls-live/{URL}/360p/index.m3u8"


@dataclass
class Site:
    nginx: RunningServer
    hls_out: RunningServer
    packager: Packager
    tls: TlsListener


@pytest.fixture
def site() -> Iterator[Site]:
    # Outside pytest's own temporary folders (0700): nginx's workers run as another user.
    folder = Path(tempfile.mkdtemp(prefix="tidecast-lowlatency-"))
    try:
        yield from _site(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _site(tmp_path: Path) -> Iterator[Site]:
    tmp_path.chmod(0o755)
    root = tmp_path / "hls"
    root.mkdir(mode=0o755)
    (tmp_path / "media").mkdir(mode=0o755)
    packager = Packager(root / URL / "360p")
    for folder in (root / URL, root / URL / "360p"):
        folder.chmod(0o755)  # nginx's workers run as another user
    for _ in range(4):
        packager.fragment()
    api = start_fake_api()
    hls_out = start_hls_out(
        hls_root=root, log=tmp_path / "hls_out.log", environment={"HLS_TRUST_PROXY_HEADERS": "1"}
    )
    prefix = tmp_path / "nginx"
    prefix.mkdir(mode=0o755)
    tls = TlsListener(cert_file=prefix / "cert.pem", key_file=prefix / "key.pem", port=free_port())
    write_self_signed_certificate(tls.cert_file, tls.key_file, hostnames=("localhost", "127.0.0.1"))
    nginx = start_nginx(
        prefix=prefix,
        hls_root=root,
        media_root=tmp_path / "media",
        api_port=api.port,
        hls_port=hls_out.port,
        tls=tls,
    )
    try:
        yield Site(nginx=nginx, hls_out=hls_out, packager=packager, tls=tls)
    finally:
        stop_process(nginx.process)
        stop_process(hls_out.process)
        api.stop()


def held(site: Site, path: str) -> tuple[Answer, float]:
    """`path` through nginx, asked before the next fragment is published; the answer and how long
    after the publish it came."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(request, site.nginx, "GET", path)
        time.sleep(0.6)
        assert not pending.done(), pending.result()
        published = time.monotonic()
        site.packager.fragment()
        answer = pending.result(timeout=5)
        return answer, time.monotonic() - published


def test_a_blocking_reload_through_nginx_comes_as_soon_as_the_part_exists(site: Site) -> None:
    answer, after = held(site, f"{VARIANT}?_HLS_msn=1&_HLS_part=1")
    assert answer.status == 200
    assert answer.header("Content-Type") == "application/vnd.apple.mpegurl"
    assert answer.header("Access-Control-Allow-Origin") == "*"
    assert playlist_state(answer.body.decode()).has(1, 1)
    assert after < 0.3, after
    too_far = request(site.nginx, "GET", f"{VARIANT}?_HLS_msn=9")
    assert too_far.status == 400


def test_the_hinted_part_through_nginx_is_held_then_sent_and_others_are_404(site: Site) -> None:
    hint = playlist_state((site.packager.folder / "index.m3u8").read_text()).preload_hint
    answer, after = held(site, f"/hls-live/{URL}/360p/{hint}")
    assert answer.status == 200
    assert answer.body == b"fragment 4"
    assert answer.header("Content-Type") == "video/mp4"
    assert after < 0.3, after
    # An existing part is nginx's static file; a part that is neither there nor hinted is 404.
    existing = request(site.nginx, "GET", f"/hls-live/{URL}/360p/part_000000.m4s")
    assert (existing.status, existing.body) == (200, b"fragment 0")
    missing = request(site.nginx, "GET", f"/hls-live/{URL}/360p/part_000099.m4s")
    assert missing.status == 404
    assert missing.header("Access-Control-Allow-Origin") == "*"
    assert request(site.nginx, "GET", f"/hls-live/{URL}/360p/seg_00099.m4s").status == 404


def curl_h2(site: Site, path: str) -> tuple[str, bytes]:
    """GET `path` over HTTPS with real curl asking for HTTP/2 (ALPN), trusting the site's own
    certificate: the HTTP version spoken and the body."""
    answer = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--http2", "--max-time", "10",
            "--cacert", str(site.tls.cert_file),
            "--write-out", "\n%{http_version} %{http_code}",
            f"https://localhost:{site.tls.port}{path}",
        ],
        capture_output=True,
        check=True,
        timeout=15,
    )  # fmt: skip
    body, _, status_line = answer.stdout.rpartition(b"\n")
    version, code = status_line.decode().split()
    assert code == "200", (path, code, body[:200])
    return version, body


def test_over_https_nginx_speaks_http2_for_blocking_reloads_and_parts(site: Site) -> None:
    version, body = curl_h2(site, f"/hls-live/{URL}/360p/part_000000.m4s")
    assert (version, body) == ("2", b"fragment 0")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(curl_h2, site, f"{VARIANT}?_HLS_msn=1&_HLS_part=1")
        time.sleep(0.6)
        assert not pending.done()  # held by hls_out behind nginx, over HTTP/2 too
        site.packager.fragment()
        version, body = pending.result(timeout=10)
    assert version == "2"
    assert playlist_state(body.decode()).has(1, 1)
