"""hls_out's /metrics over real HTTP: responses and bytes, summed over worker processes."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.stack import Service, hls_environment, http_get
from tests.metrics.scrape import free_port, scrape, value, wait_for

URL = "abcdefgh12345678"
PLAYLIST = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n"
SEGMENT = bytes(range(256)) * 40


@pytest.fixture
def start_hls(tmp_path: Path) -> Iterator[Callable[..., tuple[Service, str]]]:
    started: list[Service] = []
    root = tmp_path / "hls"
    (root / URL / "source").mkdir(parents=True)
    (root / f"{URL}.m3u8").write_bytes(PLAYLIST)
    (root / URL / "source" / "seg0.ts").write_bytes(SEGMENT)

    def start(**extra: str) -> tuple[Service, str]:
        port, metrics_port = free_port(), free_port()
        env = hls_environment(port=port, api_base_url="http://127.0.0.1:9", secret="s", hls_root=root)
        env |= {"HLS_METRICS_PORT": str(metrics_port), **extra}
        service = Service.start(module="hls_out", port=port, env=env, log=tmp_path / "hls.log")
        started.append(service)
        return service, f"http://127.0.0.1:{metrics_port}/metrics"

    yield start
    for service in started:
        service.stop()


def test_requests_and_bytes_summed_over_workers(
    start_hls: Callable[..., tuple[Service, str]], tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    service, metrics_url = start_hls(HLS_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    base = f"http://127.0.0.1:{service.port}/hls-live/"
    # Each worker's counters live in a file of its own once its server is up.
    assert wait_for(lambda: len(list(folder.glob("counter_*.db"))) == 2, timeout=10), service.log_tail()
    for _ in range(6):  # new connections each: the kernel spreads them over both workers
        assert http_get(f"{base}{URL}.m3u8").status == 200
        assert http_get(f"{base}{URL}/source/seg0.ts").status == 200
    assert http_get(f"{base}{URL}/source/seg9.ts").status == 404
    assert http_get(f"{base}{URL}/source/seg0.ts", method="HEAD").status == 200
    assert http_get(f"{base}../../etc/passwd").status in (400, 404)  # no file: not counted

    samples = scrape(metrics_url)
    assert value(samples, "tidecast_hls_requests_total", kind="playlist", status="200") == 6
    assert value(samples, "tidecast_hls_requests_total", kind="segment", status="200") == 7
    assert value(samples, "tidecast_hls_requests_total", kind="segment", status="404") == 1
    assert value(samples, "tidecast_hls_bytes_total", kind="playlist") == 6 * len(PLAYLIST)
    expected_segment_bytes = 6 * len(SEGMENT) + len(b'{"detail": "no such file", "code": "not_found"}')
    assert value(samples, "tidecast_hls_bytes_total", kind="segment") == expected_segment_bytes


def test_one_process_without_a_multiprocess_folder(start_hls: Callable[..., tuple[Service, str]]) -> None:
    service, metrics_url = start_hls(HLS_WORKERS="1")
    assert http_get(f"http://127.0.0.1:{service.port}/hls-live/{URL}.m3u8").status == 200
    assert value(scrape(metrics_url), "tidecast_hls_requests_total", kind="playlist", status="200") == 1


def test_several_workers_without_the_folder_serve_no_metrics(
    start_hls: Callable[..., tuple[Service, str]],
) -> None:
    service, metrics_url = start_hls(HLS_WORKERS="2")
    assert wait_for(lambda: "PROMETHEUS_MULTIPROC_DIR" in service.log_tail(), timeout=5)
    with pytest.raises(urllib.error.URLError):
        scrape(metrics_url)
