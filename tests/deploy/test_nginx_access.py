"""nginx behind a TLS load balancer (TRUSTED_PROXIES) and /admin/ limited to ADMIN_ALLOW_FROM.

A second nginx from the same template plays the deployment behind a load balancer at 127.0.0.1
(the test client) with the admin open to 198.51.100.0/24 and 2001:db8::/32 only.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from django.http import HttpRequest

from api.core.throttling import client_ip
from tests.deploy.conftest import Workspace, start_site_nginx
from tests.deploy.servers import ACCESS_SCRIPT, FakeApi, RunningServer, stop_process
from tests.deploy.test_hls_parity import request

pytestmark = pytest.mark.integration

ADMIN_ALLOW_FROM = "198.51.100.0/24, 2001:db8::/32"
LOAD_BALANCER = "127.0.0.1"


@pytest.fixture(scope="module")
def behind_balancer(stream: Workspace, fake_api: FakeApi) -> Iterator[RunningServer]:
    server = start_site_nginx(
        stream,
        fake_api,
        "nginx-behind-balancer",
        admin_allow_from=ADMIN_ALLOW_FROM,
        trusted_proxies=LOAD_BALANCER,
    )
    yield server
    stop_process(server.process)


@pytest.fixture
def seen(fake_api: FakeApi) -> list[dict[str, str]]:
    fake_api.seen.clear()
    return fake_api.seen


def test_the_balancer_s_https_reaches_the_api(
    behind_balancer: RunningServer, seen: list[dict[str, str]]
) -> None:
    request(behind_balancer, "GET", "/", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert seen[0]["x-forwarded-proto"] == "https"


def test_without_a_forwarded_proto_the_scheme_is_nginx_s(
    behind_balancer: RunningServer, seen: list[dict[str, str]]
) -> None:
    request(behind_balancer, "GET", "/")
    request(behind_balancer, "GET", "/", {"X-Forwarded-Proto": "gopher"})
    assert [hit["x-forwarded-proto"] for hit in seen] == ["http", "http"]


def test_an_untrusted_client_cannot_claim_https(nginx: RunningServer, seen: list[dict[str, str]]) -> None:
    """The default deployment trusts no proxy: a client's X-Forwarded-Proto is replaced."""
    request(nginx, "GET", "/", {"X-Forwarded-Proto": "https"})
    assert seen[0]["x-forwarded-proto"] == "http"


def test_the_api_takes_the_client_address_the_balancer_saw(
    behind_balancer: RunningServer, seen: list[dict[str, str]], settings: object
) -> None:
    """docker/env.example: with a load balancer in front, NUM_PROXIES=2."""
    request(
        behind_balancer,
        "POST",
        "/api/auth/login",
        {"X-Forwarded-For": "192.0.2.250, 203.0.113.9", "Content-Length": "0"},
    )
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 2}  # type: ignore[attr-defined]
    behind_nginx = HttpRequest()
    behind_nginx.META = {"REMOTE_ADDR": "172.18.0.7", "HTTP_X_FORWARDED_FOR": seen[0]["x-forwarded-for"]}
    assert client_ip(behind_nginx) == "203.0.113.9"


@pytest.mark.parametrize("client", ["198.51.100.7", "2001:db8:5::1"])
@pytest.mark.parametrize("path", ["/admin/", "/admin/login/?next=/admin/", "/admin"])
def test_the_admin_opens_to_allowed_addresses(
    behind_balancer: RunningServer, seen: list[dict[str, str]], client: str, path: str
) -> None:
    answer = request(behind_balancer, "GET", path, {"X-Forwarded-For": client})
    assert answer.status == 404  # the stand-in API's answer: the request got through
    assert [hit["path"] for hit in seen] == [path]


@pytest.mark.parametrize("client", ["203.0.113.9", "198.51.101.1", "2001:db9::1", None])
@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin", "/%61dmin/", "//admin/users/"])
def test_the_admin_is_refused_to_other_addresses(
    behind_balancer: RunningServer, seen: list[dict[str, str]], client: str | None, path: str
) -> None:
    headers = {} if client is None else {"X-Forwarded-For": client}  # None: the balancer itself
    answer = request(behind_balancer, "GET", path, headers)
    assert answer.status == 403
    assert answer.header("Content-Type") == "application/json"
    assert json.loads(answer.body)["code"] == "forbidden"
    assert seen == []


def test_a_refused_address_still_reaches_everything_else(
    behind_balancer: RunningServer, seen: list[dict[str, str]]
) -> None:
    for path in ("/", "/api/channels/", "/administrators-guide"):
        assert request(behind_balancer, "GET", path, {"X-Forwarded-For": "203.0.113.9"}).status == 404
    assert len(seen) == 3


def test_a_client_cannot_pretend_to_be_allowed_without_the_balancer(
    nginx: RunningServer, stream: Workspace, fake_api: FakeApi, seen: list[dict[str, str]]
) -> None:
    """Without TRUSTED_PROXIES, X-Forwarded-For is no address: an admin list then holds the peer."""
    edge = start_site_nginx(stream, fake_api, "nginx-edge", admin_allow_from="198.51.100.0/24")
    try:
        assert request(edge, "GET", "/admin/", {"X-Forwarded-For": "198.51.100.7"}).status == 403
        assert seen == []
    finally:
        stop_process(edge.process)


@pytest.mark.parametrize("value", ["1.2.3.4; deny all", "10.0.0.0/8\nallow", "*", "/8", "a.b/1/2"])
def test_the_lists_refuse_anything_but_addresses(tmp_path, value: str) -> None:
    result = subprocess.run(
        ["sh", str(ACCESS_SCRIPT)],
        env={
            "PATH": "/usr/bin:/bin",
            "TIDECAST_ACCESS_DIR": str(tmp_path),
            "TIDECAST_ADMIN_ALLOW_FROM": value,
        },
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode != 0
    assert "not an address or network" in result.stderr
