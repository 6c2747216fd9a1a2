"""Usage accounting (api.usage): quotas, the owner's figures, the hooks, playback from the store's
public URL, retention and the orphan report. The object store itself is tested against a real
SeaweedFS in tests/integration/test_storage_pipeline.py; here the file system is the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.usage.models import StorageQuota, VideoEgress, VideoStorage
from api.usage.selectors import storage_remaining_bytes, usage_get
from api.usage.services import egress_record, recordings_expire, storage_orphans_report, video_storage_measure
from api.videos.models import Video, VideoSource, VideoStatus, VideoVisibility
from api.videos.selectors import video_playback_url
from tests.factories import ChannelFactory, VideoFactory

pytestmark = pytest.mark.django_db


def test_the_quota_is_the_setting_unless_the_admin_set_one(user, settings) -> None:
    settings.STORAGE_QUOTA_BYTES = 1000
    video = VideoFactory(channel=ChannelFactory(owner=user))
    VideoStorage.objects.create(video=video, stored_bytes=300)
    assert storage_remaining_bytes(user=user) == 700
    StorageQuota.objects.create(user=user, quota_bytes=200)
    assert storage_remaining_bytes(user=user) == 0  # over quota: nothing left, never negative
    assert usage_get(user=user).storage_bytes == 300


def test_usage_reports_storage_videos_egress_and_streamed_seconds(
    user, auth_client: APIClient, settings
) -> None:
    settings.STORAGE_QUOTA_BYTES = 5000
    channel = ChannelFactory(owner=user)
    now = timezone.now()
    live = VideoFactory(channel=channel, status=VideoStatus.ENDED, started_at=now - timedelta(seconds=100),
                        ended_at=now - timedelta(seconds=40))  # fmt: skip
    old = VideoFactory(channel=channel, status=VideoStatus.ENDED, started_at=now - timedelta(days=40),
                       ended_at=now - timedelta(days=39))  # fmt: skip
    VideoStorage.objects.create(video=live, stored_bytes=1234)
    VideoStorage.objects.create(video=old, stored_bytes=1000)
    VideoFactory()  # someone else's
    egress_record(counts={live.url: 500, "unknownvideo0000": 99})
    egress_record(counts={live.url: 250})
    body = auth_client.get("/api/user/usage").json()
    assert body == {
        "storage_bytes": 2234,
        "storage_quota_bytes": 5000,
        "videos": 2,
        "egress_bytes_30d": 750,
        "streamed_seconds_30d": 60,
    }
    old.delete()
    assert auth_client.get("/api/user/usage").json()["storage_bytes"] == 1234


def test_usage_needs_a_signed_in_user(api_client: APIClient) -> None:
    assert api_client.get("/api/user/usage").status_code == 401


def test_the_hls_server_reports_egress_with_its_secret_only(api_client: APIClient, settings) -> None:
    video = VideoFactory(status=VideoStatus.ENDED)
    body = {"sent": {video.url: 1000}}
    assert api_client.post("/api/internal/egress", body, format="json").status_code in (401, 403)
    api_client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    assert api_client.post("/api/internal/egress", body, format="json").status_code in (401, 403)
    api_client.credentials(HTTP_X_HLS_REPORT_SECRET=settings.HLS_REPORT_SECRET)
    assert api_client.post("/api/internal/egress", body, format="json").status_code == 204
    assert VideoEgress.objects.get(video=video).sent_bytes == 1000


def test_the_ingest_reports_a_stored_recording_with_its_secret(api_client: APIClient, settings) -> None:
    video = VideoFactory(status=VideoStatus.ENDED)
    body = {"video_url": video.url}
    assert api_client.post("/api/internal/storage/stored", body, format="json").status_code in (401, 403)
    api_client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    assert api_client.post("/api/internal/storage/stored", body, format="json").status_code == 204
    assert VideoStorage.objects.get(video=video).in_store
    missing = {"video_url": "nosuchvideo00000"}
    assert api_client.post("/api/internal/storage/stored", missing, format="json").status_code == 404


def test_measuring_counts_every_local_file_once(settings, tmp_path: Path) -> None:
    settings.HLS_ROOT = tmp_path / "hls"
    video = VideoFactory(status=VideoStatus.ENDED)
    folder = settings.HLS_ROOT / video.url / "360p"
    folder.mkdir(parents=True)
    (folder / "index.m3u8").write_bytes(b"x" * 100)
    (folder / "seg_00001.ts").write_bytes(b"x" * 1000)
    (settings.HLS_ROOT / video.url / ".stored").touch()  # the archiver's marker is no object
    (settings.HLS_ROOT / f"{video.url}.m3u8").write_bytes(b"x" * 10)
    storage = video_storage_measure(video=video)
    assert (storage.stored_bytes, storage.object_count) == (1110, 3)


@pytest.mark.parametrize(
    ("status", "visibility", "from_store"),
    [
        (VideoStatus.ENDED, VideoVisibility.PUBLIC, True),
        (VideoStatus.READY, VideoVisibility.UNLISTED, True),
        (VideoStatus.ENDED, VideoVisibility.PRIVATE, False),
        (VideoStatus.LIVE, VideoVisibility.PUBLIC, False),
    ],
)
def test_finished_videos_play_from_the_public_url_private_ones_never(
    settings, status, visibility, from_store
) -> None:
    settings.STORAGE_S3_PUBLIC_URL = "https://cdn.example"
    settings.PUBLIC_HLS_URL = "https://tidecast.example/hls-live/"
    video = VideoFactory(status=status, visibility=visibility)
    expected = (
        f"https://cdn.example/hls/{video.url}.m3u8"
        if from_store
        else f"https://tidecast.example/hls-live/{video.url}.m3u8"
    )
    assert video_playback_url(url=video.url, video=video) == expected
    settings.STORAGE_S3_PUBLIC_URL = ""
    assert (
        video_playback_url(url=video.url, video=video)
        == f"https://tidecast.example/hls-live/{video.url}.m3u8"
    )


def test_retention_deletes_old_recordings_only(settings, django_capture_on_commit_callbacks) -> None:
    now = timezone.now()
    old = VideoFactory(status=VideoStatus.ENDED, source=VideoSource.LIVE, ended_at=now - timedelta(days=10))
    recent = VideoFactory(status=VideoStatus.ENDED, source=VideoSource.LIVE, ended_at=now - timedelta(days=2))
    upload = VideoFactory(
        status=VideoStatus.READY, source=VideoSource.UPLOAD, ended_at=now - timedelta(days=10)
    )
    settings.RECORDING_RETENTION_DAYS = None
    assert recordings_expire() == 0
    settings.RECORDING_RETENTION_DAYS = 7
    with django_capture_on_commit_callbacks():
        assert recordings_expire() == 1
    assert set(Video.objects.values_list("pk", flat=True)) == {recent.pk, upload.pk}
    assert not Video.objects.filter(pk=old.pk).exists()


def test_the_orphan_report_lists_and_removes_only_with_the_setting(settings, tmp_path: Path) -> None:
    settings.HLS_ROOT = tmp_path / "hls"
    owned = VideoFactory(status=VideoStatus.ENDED)
    for url in (owned.url, "orphan0000000001"):
        (settings.HLS_ROOT / url / "360p").mkdir(parents=True)
        (settings.HLS_ROOT / url / "360p" / "seg_00001.ts").write_bytes(b"x")
    settings.STORAGE_ORPHANS_DELETE = False
    report = storage_orphans_report()
    assert list(report.videos) == ["orphan0000000001"]
    assert (settings.HLS_ROOT / "orphan0000000001").exists()
    settings.STORAGE_ORPHANS_DELETE = True
    storage_orphans_report()
    assert not (settings.HLS_ROOT / "orphan0000000001").exists()
    assert (settings.HLS_ROOT / owned.url).exists()
