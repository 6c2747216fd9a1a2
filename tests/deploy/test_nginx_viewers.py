"""Viewer counting behind nginx: playlist requests mirrored to a real `python -m hls_out` (with
HLS_TRUST_PROXY_HEADERS on), which reports the counts to the stand-in API; the client's answer
comes from nginx's static serving alone."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import URL, Workspace
from tests.deploy.servers import (
    FakeApi,
    RunningServer,
    start_fake_api,
    start_hls_out,
    start_nginx,
    stop_process,
)
from tests.deploy.test_hls_parity import Answer, request
from tests.netutil import wait_until

pytestmark = pytest.mark.integration

SHARED_SECRET = "deploy-viewer-secret"
MASTER = f"/hls-live/{URL}.m3u8"
VARIANT = f"/hls-live/{URL}/180p/index.m3u8"
# Fields that differ between two answers of the same file for reasons of their own.
VOLATILE = {"date", "connection"}


@dataclass
class CountingSite:
    nginx: RunningServer
    hls_out: RunningServer
    api: FakeApi


@pytest.fixture
def counting_site(stream: Workspace, tmp_path: Path) -> Iterator[CountingSite]:
    tmp_path.chmod(0o755)
    api = start_fake_api()
    hls_out = start_hls_out(
        hls_root=stream.hls_root,
        log=tmp_path / "hls_out.log",
        environment={
            "HLS_TRUST_PROXY_HEADERS": "1",
            "API_BASE_URL": f"http://127.0.0.1:{api.port}",
            "HLS_REPORT_SECRET": SHARED_SECRET,
            "HLS_VIEWER_REPORT_SECONDS": "0.2",
        },
    )
    prefix = tmp_path / "nginx"
    prefix.mkdir(mode=0o755)
    nginx = start_nginx(
        prefix=prefix,
        hls_root=stream.hls_root,
        media_root=stream.media_root,
        api_port=api.port,
        hls_port=hls_out.port,
    )
    try:
        yield CountingSite(nginx=nginx, hls_out=hls_out, api=api)
    finally:
        stop_process(nginx.process)
        stop_process(hls_out.process)
        api.stop()


def reported_counts(api: FakeApi) -> list[dict[str, int]]:
    reports = [hit for hit in list(api.seen) if hit["path"] == "/api/internal/viewers"]
    for report in reports:
        assert report["method"] == "POST"
        assert report["x-hls-report-secret"] == SHARED_SECRET
    return [json.loads(report["body"])["counts"] for report in reports]


def comparable(answer: Answer) -> tuple[int, list[tuple[str, str]], bytes]:
    fields = sorted((name.lower(), value) for name, value in answer.headers.items())
    return answer.status, [field for field in fields if field[0] not in VOLATILE], answer.body


def test_two_players_through_nginx_are_reported_as_two_viewers(counting_site: CountingSite) -> None:
    for agent in ("player-one", "player-two", "player-one"):
        for path in (MASTER, VARIANT):
            assert request(counting_site.nginx, "GET", path, {"User-Agent": agent}).status == 200
    # Neither segments nor HEAD requests are mirrored: they would not add viewers either way.
    request(counting_site.nginx, "HEAD", MASTER, {"User-Agent": "player-three"})
    assert wait_until(lambda: {URL: 2} in reported_counts(counting_site.api), timeout=10)
    assert all(counts[URL] <= 2 for counts in reported_counts(counting_site.api))


def test_the_session_token_in_the_query_reaches_hls_out(counting_site: CountingSite) -> None:
    for token in ("tab-1", "tab-2", "tab-3"):
        answer = request(counting_site.nginx, "GET", f"{MASTER}?session={token}", {"User-Agent": "same"})
        assert answer.status == 200
    assert wait_until(lambda: {URL: 3} in reported_counts(counting_site.api), timeout=10)


def test_the_answer_is_the_static_one_whether_hls_out_is_up_or_down(
    counting_site: CountingSite, nginx: RunningServer
) -> None:
    """`nginx` mirrors to a port nothing listens on; `counting_site` to a running hls_out."""
    for path in (MASTER, VARIANT):
        headers = {"User-Agent": "player-one"}
        counted = request(counting_site.nginx, "GET", path, headers)
        uncounted = request(nginx, "GET", path, headers)
        assert counted.status == 200
        assert comparable(counted) == comparable(uncounted)
        assert counted.header("Cache-Control") == "no-cache"

    stop_process(counting_site.hls_out.process)
    down = request(counting_site.nginx, "GET", MASTER, {"User-Agent": "player-one"})
    assert comparable(down) == comparable(request(nginx, "GET", MASTER))
    assert down.status == 200
    assert down.body.startswith(b"#EXTM3U")


def test_mirroring_adds_no_wait_on_a_keep_alive_connection(counting_site: CountingSite) -> None:
    """A corked answer would wait for the kernel's 200 ms flush on each request after the first."""
    connection = http.client.HTTPConnection(counting_site.nginx.host, counting_site.nginx.port, timeout=5)
    try:
        started = time.monotonic()
        for _ in range(6):
            connection.request("GET", MASTER, headers={"User-Agent": "player-one"})
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        assert time.monotonic() - started < 0.6
    finally:
        connection.close()
