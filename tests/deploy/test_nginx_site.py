"""nginx's other duties with the project's config: the API proxied with the client's address,
/media/ served from the media volume, the internal hooks kept inside."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from django.http import HttpRequest

from api.core.throttling import client_ip
from tests.deploy.conftest import SECRET, Workspace
from tests.deploy.servers import FakeApi, RunningServer
from tests.deploy.test_hls_parity import raw_request, request

pytestmark = pytest.mark.integration


@pytest.fixture
def seen(fake_api: FakeApi) -> list[dict[str, str]]:
    fake_api.seen.clear()
    return fake_api.seen


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/watch/abcdefgh12345678",
        "/api/videos/?search=two%20words",
        "/admin/",
        "/static/vendor/hls/hls.min.js",
    ],
)
def test_pages_api_admin_and_static_go_to_gunicorn_unchanged(
    nginx: RunningServer, seen: list[dict[str, str]], path: str
) -> None:
    answer = request(nginx, "GET", path, {"Host": "tidecast.example.com"})
    assert answer.status == 404  # what the stand-in API answers to everything
    assert [(hit["method"], hit["path"]) for hit in seen] == [("GET", path)]
    assert seen[0]["host"] == "tidecast.example.com"
    assert seen[0]["x-forwarded-proto"] == "http"
    assert answer.header("Access-Control-Allow-Origin") is None  # CORS is for HLS only


def test_the_client_address_survives_a_forged_forwarded_header(
    nginx: RunningServer, seen: list[dict[str, str]], settings: object
) -> None:
    """nginx appends the peer to X-Forwarded-For; with NUM_PROXIES=1 the API takes that entry."""
    request(nginx, "POST", "/api/auth/login", {"X-Forwarded-For": "203.0.113.9", "Content-Length": "0"})
    forwarded = seen[0]["x-forwarded-for"]
    assert forwarded == "203.0.113.9, 127.0.0.1"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # type: ignore[attr-defined]
    behind_nginx = HttpRequest()
    behind_nginx.META = {"REMOTE_ADDR": "172.18.0.7", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_ip(behind_nginx) == "127.0.0.1"


@pytest.mark.parametrize("path", ["/api/internal/publish/authorize", "/api/internal/viewers"])
def test_the_ingest_hooks_are_not_reachable_through_nginx(
    nginx: RunningServer, seen: list[dict[str, str]], path: str
) -> None:
    answer = request(nginx, "POST", path, {"X-Ingest-Secret": "guess", "Content-Length": "0"})
    assert answer.status == 404
    assert answer.header("Content-Type") == "application/json"
    assert seen == []


def test_media_files_are_served_from_the_media_volume(nginx: RunningServer, stream: Workspace) -> None:
    folder = stream.media_root / "avatars" / "7"
    folder.mkdir(parents=True, exist_ok=True, mode=0o755)
    picture = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + bytes(14)
    (folder / "128.webp").write_bytes(picture)
    answer = request(nginx, "GET", "/media/avatars/7/128.webp")
    assert answer.status == 200
    assert answer.body == picture
    assert answer.header("Content-Type") == "image/webp"
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert request(nginx, "POST", "/media/avatars/7/128.webp", {"Content-Length": "0"}).status == 403


def test_media_never_leads_out_of_its_folder(nginx: RunningServer, stream: Workspace) -> None:
    link = stream.media_root / "leak.webp"
    if not link.is_symlink():
        link.symlink_to(stream.folder / "secret.ts")
    for target in (
        b"/media/leak.webp",
        b"/media/../secret.ts",
        b"/media/%2e%2e/secret.ts",
        b"/media/..%2fsecret.ts",
    ):
        status, body = raw_request(nginx, target)
        assert status in (400, 403, 404), target
        assert SECRET not in body


def test_uploads_above_the_body_limit_are_refused_before_the_api(
    nginx: RunningServer, seen: list[dict[str, str]]
) -> None:
    with socket.create_connection((nginx.host, nginx.port), timeout=5) as sock:
        sock.sendall(
            b"PUT /api/user/profile/picture HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % (13 * 1024 * 1024)
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert seen == []


UPLOAD_PATH = "/api/uploads/0b6f1c2e-6a55-4d6f-9a43-1f2e3d4c5b6a"
TUS_PATCH_HEAD = (
    "PATCH {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTus-Resumable: 1.0.0\r\n"
    "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {length}\r\n\r\n"
)


def wait_seen(seen: list[dict[str, str]], timeout: float = 10) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def test_a_tus_patch_of_any_size_reaches_the_api(nginx: RunningServer, seen: list[dict[str, str]]) -> None:
    """A whole file in one PATCH, as tus-js-client sends it by default: far above the 12 MB of
    other bodies."""
    length = 40 * 1024 * 1024
    with socket.create_connection((nginx.host, nginx.port), timeout=10) as sock:
        sock.sendall(TUS_PATCH_HEAD.format(path=UPLOAD_PATH, length=length).encode())
        chunk = b"\x00" * (1024 * 1024)
        for _ in range(length // len(chunk)):
            sock.sendall(chunk)
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 404 "), head[:200]  # the stand-in API's answer, not nginx's 413
    assert [(r["method"], r["path"], r["received-bytes"]) for r in seen] == [
        ("PATCH", UPLOAD_PATH, str(length))
    ]


def test_an_interrupted_tus_patch_reaches_the_api_with_what_arrived(
    nginx: RunningServer, seen: list[dict[str, str]]
) -> None:
    """nginx passes the body on as it comes (no buffering): the bytes of a PATCH cut short reach
    the API, which keeps them, so the client resumes from there."""
    sent = 3 * 1024 * 1024
    with socket.create_connection((nginx.host, nginx.port), timeout=10) as sock:
        sock.sendall(TUS_PATCH_HEAD.format(path=UPLOAD_PATH, length=64 * 1024 * 1024).encode())
        sock.sendall(b"\x01" * sent)
        time.sleep(0.5)  # the bytes reach the API before the connection drops
    assert [(r["method"], r["received-bytes"]) for r in wait_seen(seen)] == [("PATCH", str(sent))]


def test_other_bodies_are_still_held_to_the_limit(nginx: RunningServer, seen: list[dict[str, str]]) -> None:
    with socket.create_connection((nginx.host, nginx.port), timeout=5) as sock:
        sock.sendall(TUS_PATCH_HEAD.format(path="/api/user/channel", length=13 * 1024 * 1024).encode())
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert seen == []


def test_the_health_location_answers_without_the_api(
    nginx: RunningServer, seen: list[dict[str, str]]
) -> None:
    answer = request(nginx, "GET", "/nginx-health")
    assert (answer.status, answer.body) == (200, b"ok\n")
    assert seen == []


def test_nginx_logged_no_error_serving_the_stream(nginx: RunningServer, stream: Workspace) -> None:
    """Its workers (another user when run as root) read everything the transcoder wrote."""
    request(nginx, "GET", "/hls-live/deploytest000001.m3u8")
    log = Path(stream.folder / "nginx" / "error.log").read_text()
    assert "Permission denied" not in log
    assert "[emerg]" not in log
