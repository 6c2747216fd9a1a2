"""tus over real HTTP (Django's live server): tuspy as the client, and raw requests for the errors."""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta
from io import BytesIO
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from api.uploads.files import original_path
from api.uploads.models import Upload
from api.uploads.protocol import encode_metadata
from api.uploads.services import UPLOAD_PROCESS_TASK, upload_expire_stale
from api.videos.models import Video, VideoStatus
from api.videos.services import video_files_remove
from tests.factories import UserFactory
from tests.uploads.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def base(live_server, upload_dirs) -> str:
    return f"{live_server.url}/api/uploads/"


def payload(size: int) -> bytes:
    return os.urandom(size)


def create(base: str, user, length: int, **metadata: str) -> requests.Response:
    return requests.post(
        base,
        headers={
            **TUS,
            **bearer(user),
            "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata(metadata),
        },
        timeout=10,
    )


def head_offset(location: str, user) -> int:
    response = requests.head(location, headers={**TUS, **bearer(user)}, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


def test_options_tells_the_capabilities(base, settings):
    response = requests.options(base, timeout=10)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,termination,expiration"
    assert response.headers["Tus-Max-Size"] == str(settings.UPLOAD_MAX_BYTES)
    exposed = response.headers["Access-Control-Expose-Headers"]
    for name in ("Upload-Offset", "Location", "Upload-Expires", "Tus-Resumable"):
        assert name in exposed


def test_tuspy_uploads_in_chunks_and_the_video_goes_to_processing(base, creator, sent):
    data = payload(300_000)
    uploader = tus_client.TusClient(base, headers=bearer(creator)).uploader(
        file_stream=BytesIO(data), chunk_size=64 * 1024, metadata={"filename": "clip.mp4", "title": "Sea"}
    )
    uploader.upload()
    upload_id = uuid.UUID(uploader.url.rstrip("/").rsplit("/", 1)[1])
    upload = Upload.objects.select_related("video").get(pk=upload_id)
    assert upload.offset == upload.length == len(data)
    assert original_path(upload.video.url).read_bytes() == data
    video = upload.video
    assert (video.source, video.status, video.title) == ("upload", VideoStatus.PROCESSING, "Sea")
    assert sent.tasks == [(UPLOAD_PROCESS_TASK, {"video_id": video.id})]
    # The owner sees it, in the state it is in.
    listed = requests.get(
        base.replace("/api/uploads/", f"/api/user/channel/videos/{video.url}"),
        headers=bearer(creator),
        timeout=10,
    ).json()
    assert listed["status"] == "processing"


def test_creation_answers_location_video_url_and_expiry(base, creator, sent):
    response = create(base, creator, 10, filename="a.mov", title="Title", description="About")
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith("/api/uploads/")
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Upload-Expires"].endswith("GMT")
    video = Video.objects.get(url=response.headers["Video-Url"])
    assert (video.status, video.description) == (VideoStatus.UPLOADING, "About")
    assert response.json()["url"] == video.url


def _interrupted_patch(
    live_url: str, location: str, user, *, offset: int, sent_bytes: bytes, claimed: int
) -> None:
    """A PATCH that announces `claimed` bytes, sends fewer, and drops the connection."""
    parts = urlsplit(live_url)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: {bearer(user)['Authorization']}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {claimed}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + sent_bytes)
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.3)


def test_an_interrupted_patch_keeps_what_arrived_and_tuspy_resumes(base, live_server, creator, sent):
    data = payload(400_000)
    location = create(base, creator, len(data), filename="long.mkv").headers["Location"]
    _interrupted_patch(
        live_server.url, location, creator, offset=0, sent_bytes=data[:150_000], claimed=len(data)
    )
    deadline = time.monotonic() + 10
    while head_offset(live_server.url + location, creator) != 150_000:
        assert time.monotonic() < deadline, "the server did not keep the bytes that arrived"
        time.sleep(0.1)
    assert sent.tasks == []

    uploader = tus_client.TusClient(base, headers=bearer(creator)).uploader(
        file_stream=BytesIO(data), chunk_size=100_000, url=live_server.url + location
    )
    assert uploader.get_offset() == 150_000
    uploader.upload()
    upload = Upload.objects.select_related("video").get(video__url__isnull=False, length=len(data))
    assert original_path(upload.video.url).read_bytes() == data
    assert len(sent.tasks) == 1


def test_a_wrong_offset_is_409_and_changes_nothing(base, live_server, creator, sent):
    location = live_server.url + create(base, creator, 100, filename="x.mp4").headers["Location"]
    patch = {**TUS, **bearer(creator), "Content-Type": "application/offset+octet-stream"}
    assert (
        requests.patch(
            location, data=b"a" * 10, headers={**patch, "Upload-Offset": "0"}, timeout=10
        ).status_code
        == 204
    )
    for wrong in ("0", "5", "11"):
        response = requests.patch(
            location, data=b"b" * 10, headers={**patch, "Upload-Offset": wrong}, timeout=10
        )
        assert response.status_code == 409, wrong
        assert response.json()["code"] == "offset_mismatch"
    assert head_offset(location, creator) == 10
    too_far = requests.patch(location, data=b"c" * 91, headers={**patch, "Upload-Offset": "10"}, timeout=10)
    assert too_far.status_code == 400
    wrong_type = requests.patch(
        location,
        data=b"c",
        headers={**patch, "Upload-Offset": "10", "Content-Type": "application/json"},
        timeout=10,
    )
    assert wrong_type.status_code == 415
    no_version = requests.patch(location, data=b"c", headers={**bearer(creator), "Upload-Offset": "10",
                                                              "Content-Type": "application/offset+octet-stream"}, timeout=10)  # fmt: skip
    assert no_version.status_code == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"


def test_another_users_upload_is_404(base, live_server, creator, sent):
    location = live_server.url + create(base, creator, 100, filename="x.mp4").headers["Location"]
    stranger = UserFactory()
    headers = {**TUS, **bearer(stranger)}
    assert requests.head(location, headers=headers, timeout=10).status_code == 404
    patch = requests.patch(
        location,
        data=b"a",
        headers={**headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
        timeout=10,
    )
    assert patch.status_code == 404
    assert requests.delete(location, headers=headers, timeout=10).status_code == 404
    assert head_offset(location, creator) == 0
    assert requests.head(location, headers=TUS, timeout=10).status_code == 401
    assert (
        requests.head(f"{base}not-a-uuid", headers={**TUS, **bearer(creator)}, timeout=10).status_code == 404
    )


def test_too_large_and_over_quota_are_413_before_any_byte(base, creator, settings, sent):
    settings.UPLOAD_MAX_BYTES = 1000
    response = create(base, creator, 1001, filename="big.mp4")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    settings.UPLOAD_MAX_BYTES = 10_000
    settings.STORAGE_QUOTA_BYTES = 1500
    assert create(base, creator, 1000, filename="a.mp4").status_code == 201
    over = create(base, creator, 600, filename="b.mp4")
    assert over.status_code == 413
    assert over.json()["code"] == "quota_exceeded"
    assert "quota" in over.json()["detail"]
    with pytest.raises(TusCommunicationError) as caught:
        tus_client.TusClient(base, headers=bearer(creator)).uploader(
            file_stream=BytesIO(b"x" * 600), metadata={"filename": "c.mp4"}
        ).upload()
    assert caught.value.status_code == 413
    assert Video.objects.count() == 1


def test_creation_needs_a_channel(base, sent):
    response = create(base, UserFactory(), 10, filename="a.mp4")
    assert response.status_code == 409
    assert response.json()["code"] == "no_channel"


def test_termination_discards_the_upload_and_its_video(base, live_server, creator, sent):
    response = create(base, creator, 100, filename="x.mp4")
    location, video_url = live_server.url + response.headers["Location"], response.headers["Video-Url"]
    assert original_path(video_url).exists()
    assert requests.delete(location, headers={**TUS, **bearer(creator)}, timeout=10).status_code == 204
    assert not Video.objects.filter(url=video_url).exists()
    assert requests.head(location, headers={**TUS, **bearer(creator)}, timeout=10).status_code == 404
    video_files_remove(video_url=video_url, media_names=[])  # the worker's part
    assert not original_path(video_url).parent.exists()


def test_an_expired_upload_is_410_then_its_bytes_are_removed(base, live_server, creator, sent):
    response = create(base, creator, 100, filename="x.mp4")
    location, video_url = live_server.url + response.headers["Location"], response.headers["Video-Url"]
    patch = {
        **TUS,
        **bearer(creator),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
    }
    assert requests.patch(location, data=b"a" * 40, headers=patch, timeout=10).status_code == 204
    finished = create(base, creator, 5, filename="done.mp4")
    done_location = live_server.url + finished.headers["Location"]
    requests.patch(done_location, data=b"12345", headers=patch, timeout=10)
    Upload.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    assert requests.head(location, headers={**TUS, **bearer(creator)}, timeout=10).status_code == 410
    assert upload_expire_stale() == 1
    assert not Video.objects.filter(url=video_url).exists()
    assert not original_path(video_url).parent.exists()
    # A finished upload never expires.
    assert Video.objects.filter(url=finished.headers["Video-Url"]).exists()
    assert original_path(finished.headers["Video-Url"]).read_bytes() == b"12345"
