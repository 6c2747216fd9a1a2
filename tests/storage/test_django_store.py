"""The API's side of the object store against a real SeaweedFS: a VOD tree uploaded in order,
measured exactly, and removed whole with the video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as DjangoSettings

from api.usage.objects import object_store, video_hls_upload
from api.usage.services import video_storage_measure
from api.videos.models import VideoStatus
from api.videos.services import video_files_remove
from tests.factories import VideoFactory
from tests.seaweed import SeaweedServer
from tidecast_common.object_store import master_key, video_prefix

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_the_store(settings: DjangoSettings, seaweed: SeaweedServer, tmp_path: Path) -> Iterator[SeaweedServer]:
    for name, value in seaweed.environment().items():
        setattr(settings, name, value)
    settings.HLS_ROOT = tmp_path / "hls"
    object_store.cache_clear()
    yield seaweed
    object_store.cache_clear()


def test_a_vod_tree_is_uploaded_measured_and_deleted_whole(on_the_store: SeaweedServer, settings) -> None:
    video = VideoFactory(status=VideoStatus.READY)
    for rendition in ("720p", "360p"):
        folder = settings.HLS_ROOT / video.url / rendition
        folder.mkdir(parents=True)
        (folder / "seg_00001.ts").write_bytes(b"s" * 5000)
        (folder / "index.m3u8").write_bytes(b"#EXTM3U\nseg_00001.ts\n#EXT-X-ENDLIST\n")
    (settings.HLS_ROOT / f"{video.url}.m3u8").write_bytes(b"#EXTM3U\n")
    assert video_hls_upload(video_url=video.url) == 5
    store = on_the_store.store()
    assert store.size(master_key(video.url)) == 8
    in_bucket = sum(item.size for item in store.video_objects(video.url))
    # the local copy gone, the figures are still the bucket's
    for path in sorted(settings.HLS_ROOT.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    measured = video_storage_measure(video=video)
    assert (measured.stored_bytes, measured.object_count) == (in_bucket, 5)
    url = video.url
    video.delete()
    assert video_files_remove(video_url=url, media_names=[]) == 5
    assert list(store.list_prefix(video_prefix(url))) == []
    assert store.size(master_key(url)) is None
