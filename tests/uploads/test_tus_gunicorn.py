"""tus under gunicorn (threaded workers, keep-alive), where a PATCH body is read from the socket past
gunicorn's own body reader (api.uploads.body): the bytes on disk are exactly those sent, a
connection goes on with the next request right after a body's last byte, pipelined requests
included, and a PATCH cut short by the read timeout keeps what arrived."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
import requests
from tusclient import client as tus_client

from api.uploads.protocol import encode_metadata
from tests.gunicorn_api import api_environment, gunicorn_api, post_json
from tests.scratch_database import scratch_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple-42"
READ_TIMEOUT = 1.5
READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class Api:
    url: str
    token: str
    data_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("tus-gunicorn")
    database_url, drop_database = scratch_database("tus_gunicorn", data_dir / "db.sqlite3")
    env = api_environment(
        database_url=database_url, data_dir=data_dir,
        UPLOAD_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT), UPLOAD_READ_BYTES=str(READ_BYTES),
    )  # fmt: skip
    try:
        with gunicorn_api(
            env, log=data_dir / "gunicorn.log",
            options=["--workers", "1", "--threads", "2", "--timeout", "30", "--graceful-timeout", "5"],
        ) as url:  # fmt: skip
            post_json(
                f"{url}/api/auth/signup",
                {"username": "uploader", "email": "u@example.com", "password": PASSWORD},
            )
            token = post_json(f"{url}/api/auth/login", {"username": "uploader", "password": PASSWORD})[
                "access"
            ]
            post_json(f"{url}/api/user/channel", {"name": "uploader", "title": "Uploads"}, token)
            yield Api(url=url, token=token, data_dir=data_dir)
    finally:
        drop_database()


def _create(api: Api, length: int) -> tuple[str, Path]:
    response = requests.post(
        f"{api.url}/api/uploads/",
        headers={
            **api.auth,
            "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata({"filename": "a.mp4"}),
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.headers["Location"], api.data_dir / "uploads" / response.headers["Video-Url"] / "original"


def _patch_head(api: Api, location: str, *, offset: int, length: int, close: bool = False) -> bytes:
    return (
        f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {api.auth['Authorization']}\r\n"
        f"Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: {offset}\r\nContent-Length: {length}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    ).encode()


def _head_offset(api: Api, location: str) -> int:
    response = requests.head(api.url + location, headers=api.auth, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


def test_tuspy_chunks_arrive_byte_exact(api):
    data = os.urandom(1_000_003)
    location, original = _create(api, len(data))
    uploader = tus_client.TusClient(f"{api.url}/api/uploads/", headers=api.auth).uploader(
        file_stream=BytesIO(data), chunk_size=300_007, url=api.url + location
    )
    uploader.upload()
    assert _head_offset(api, location) == len(data)
    assert original.read_bytes() == data


def test_patches_and_head_on_one_keep_alive_connection(api):
    data = os.urandom(3 * READ_BYTES + 17)
    location, original = _create(api, len(data))
    with requests.Session() as session:
        session.headers.update({**api.auth, "Content-Type": "application/offset+octet-stream"})
        for start in range(0, len(data), 100_000):
            piece = data[start : start + 100_000]
            answer = session.patch(
                api.url + location, data=piece, headers={"Upload-Offset": str(start)}, timeout=10
            )
            assert answer.status_code == 204, answer.text
            assert answer.headers["Upload-Offset"] == str(start + len(piece))
        assert int(session.head(api.url + location, timeout=10).headers["Upload-Offset"]) == len(data)
    assert original.read_bytes() == data


def test_pipelined_requests_after_a_body_are_answered_in_turn(api):
    data = os.urandom(50_000)
    location, original = _create(api, len(data))
    head = (
        f"HEAD {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {api.auth['Authorization']}\r\n"
        "Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n"
    ).encode()
    # Both PATCHes and the HEAD in one write: gunicorn's first read (8 KiB) takes the first
    # PATCH whole and the start of the second, past the first body's end.
    wire = (
        _patch_head(api, location, offset=0, length=1_000)
        + data[:1_000]
        + _patch_head(api, location, offset=1_000, length=49_000)
        + data[1_000:]
        + head
    )
    answers = b""
    with socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(wire)
        while chunk := sock.recv(65536):
            answers += chunk
    statuses = [line.split(b" ")[1] for line in answers.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert statuses == [b"204", b"204", b"200"], answers
    assert b"Upload-Offset: 50000" in answers.rsplit(b"HTTP/1.1 ", 1)[1]
    assert original.read_bytes() == data


def test_a_patch_stalled_past_the_read_timeout_keeps_what_arrived(api):
    data = os.urandom(200_000)
    location, original = _create(api, len(data))
    with socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(_patch_head(api, location, offset=0, length=len(data)) + data[:120_000])
        deadline = time.monotonic() + READ_TIMEOUT + 10
        while _head_offset(api, location) != 120_000 or original.stat().st_size != 120_000:
            assert time.monotonic() < deadline, "the bytes before the stall were not kept"
            time.sleep(0.1)
        time.sleep(READ_TIMEOUT + 0.5)  # the server gives up on this body
    assert original.read_bytes() == data[:120_000]
    uploader = tus_client.TusClient(f"{api.url}/api/uploads/", headers=api.auth).uploader(
        file_stream=BytesIO(data), chunk_size=64 * 1024, url=api.url + location
    )
    assert uploader.get_offset() == 120_000
    uploader.upload()
    assert original.read_bytes() == data
