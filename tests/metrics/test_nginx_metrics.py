"""The real nginx with the project's site configuration never forwards /metrics to the API."""

from __future__ import annotations

import pytest

from tests.deploy.conftest import fake_api, nginx, source_flv, stream, workspace
from tests.deploy.servers import FakeApi, RunningServer
from tests.deploy.test_hls_parity import request

__all__ = ["fake_api", "nginx", "source_flv", "stream", "workspace"]


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text"])
def test_metrics_are_not_proxied(nginx: RunningServer, fake_api: FakeApi, path: str) -> None:
    fake_api.seen.clear()
    answer = request(nginx, "GET", path)
    assert answer.status == 404
    assert answer.header("Content-Type") == "application/json"
    assert fake_api.seen == []
    request(nginx, "GET", "/api/videos/")
    assert [hit["path"] for hit in fake_api.seen] == ["/api/videos/"]  # the proxy itself works
