"""An upload transcoded into a real S3-compatible store (SeaweedFS): a file sent with tuspy over
real HTTP, processed by a real Celery worker process configured with the bucket, ends up in the
bucket (master, variant playlists, segments, the original, the thumbnail), plays from there
through `python -m hls_out` (whose own HLS root is empty), counts exactly the bytes the bucket
holds for it, and is gone from the bucket once deleted. Only the public behaviour is relied on
(upload -> ready -> objects), whatever the workers do in between."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as DjangoSettings
from rest_framework.test import APIClient

from api.settings.storage import s3_media_storage
from api.videos.models import VideoStatus
from tests.factories import ChannelFactory, UserFactory
from tests.integration.stack import Service, hls_environment, probe_duration
from tests.netutil import free_port, wait_until
from tests.seaweed import SeaweedServer, seaweed, seaweed_server
from tests.uploads import media
from tests.uploads.test_processing import start_workers, upload_file, vod, vod_env, wait_done
from tidecast_common.object_store import MEDIA_PREFIX, master_key, upload_prefix, video_prefix

__all__ = ["seaweed", "seaweed_server", "start_workers", "vod", "vod_env"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

DEADLINE = 180.0  # a bound for a loaded machine, not a wait


@pytest.fixture
def stored(settings: DjangoSettings, seaweed: SeaweedServer) -> Iterator[SeaweedServer]:
    """This process (the API) on the bucket the workers use."""
    from api.usage.objects import object_store

    for name, value in seaweed.environment().items():
        setattr(settings, name, value)
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": s3_media_storage(endpoint=seaweed.endpoint, bucket="tidecast", access_key=seaweed.environment()["STORAGE_S3_ACCESS_KEY"],
                                    secret_key=seaweed.environment()["STORAGE_S3_SECRET_KEY"], region="us-east-1"),
    }  # fmt: skip
    object_store.cache_clear()
    yield seaweed
    object_store.cache_clear()


def test_an_upload_is_transcoded_into_the_bucket_plays_from_there_counts_exactly_and_is_deleted_whole(
    vod: dict[str, str], start_workers, stored: SeaweedServer, settings: DjangoSettings, tmp_path: Path
) -> None:
    seaweed = stored
    store = seaweed.store()
    user = UserFactory()
    ChannelFactory(owner=user)
    source = media.make(tmp_path / "clip.mp4", seconds=6)
    start_workers(1, **seaweed.environment())
    empty_root = tmp_path / "hls-out-root"  # the HLS server has nothing on disk: only the bucket
    empty_root.mkdir()
    port = free_port()
    hls = Service.start(
        module="hls_out", port=port,
        env={**hls_environment(port=port, api_base_url=vod["live"], secret=django_settings.HLS_REPORT_SECRET,
                               hls_root=empty_root), **seaweed.environment()},
        log=tmp_path / "hls_out.log",
    )  # fmt: skip
    settings.PUBLIC_HLS_URL = f"http://127.0.0.1:{port}/hls-live/"
    try:
        video = wait_done(upload_file(vod, user, source), timeout=DEADLINE)
        assert video.status == VideoStatus.READY, video.error
        url = video.url
        # The worker copies the video to the bucket (master last) before it marks it ready: a
        # playback_url at the store's public URL plays the moment the video is ready.
        assert store.size(master_key(url)) is not None
        keys = {item.key: item.size for item in store.list_prefix("")}
        renditions = {k.split("/")[2] for k in keys if k.startswith(video_prefix(url))}
        assert renditions, keys
        assert master_key(url) in keys
        for rendition in renditions:
            playlist = (
                store.get_bytes(f"{video_prefix(url)}{rendition}/index.m3u8", max_bytes=1 << 20) or b""
            ).decode()
            assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
            names = [line for line in playlist.splitlines() if line and not line.startswith("#")]
            assert names
            assert all(f"{video_prefix(url)}{rendition}/{name}" in keys for name in names)
        assert f"{upload_prefix(url)}original" in keys
        assert keys[f"{upload_prefix(url)}original"] == source.stat().st_size

        def thumbnail_in_bucket() -> bool:
            current = type(video).objects.get(pk=video.pk)
            return bool(current.thumbnail) and current.thumbnail.name.endswith("-1280.webp") and any(
                k.startswith(f"{MEDIA_PREFIX}{current.thumbnail.name}") for k in
                (item.key for item in store.list_prefix(MEDIA_PREFIX)))  # fmt: skip

        assert wait_until(thumbnail_in_bucket, timeout=60)

        # it plays from the bucket, at its playback_url
        client = APIClient()
        client.force_authenticate(user)
        playback_url = client.get(f"/api/videos/{url}").json()["playback_url"]
        assert playback_url.startswith(settings.PUBLIC_HLS_URL)
        shutil.rmtree(Path(vod["HLS_ROOT"]) / url, ignore_errors=True)  # not even the workers' copy
        assert probe_duration(playback_url) == pytest.approx(media.duration(source), abs=1.0)

        # usage: exactly what the bucket holds for it (renditions, original, thumbnails)
        def bucket_bytes() -> int:
            owned = (
                video_prefix(url),
                master_key(url),
                upload_prefix(url),
                f"{MEDIA_PREFIX}thumbnails/{url}/",
            )
            return sum(item.size for item in store.list_prefix("") if item.key.startswith(owned))

        assert wait_until(lambda: client.get("/api/user/usage").json()["storage_bytes"] == bucket_bytes(), timeout=60), (
            client.get("/api/user/usage").json(), bucket_bytes())  # fmt: skip

        # delete: every object goes (the worker's task), and the storage with it
        assert client.delete(f"/api/user/channel/videos/{url}").status_code == 204
        assert client.get("/api/user/usage").json()["storage_bytes"] == 0
        assert wait_until(lambda: bucket_bytes() == 0, timeout=60), sorted(
            item.key for item in store.list_prefix("") if url in item.key)  # fmt: skip
    finally:
        hls.stop()
