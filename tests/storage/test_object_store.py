"""The shared object store client against a real SeaweedFS, and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.seaweed import SeaweedServer
from tidecast_common.env import SettingsError
from tidecast_common.object_store import ObjectStoreSettings, master_key, video_prefix


def test_no_store_without_endpoint_and_bucket() -> None:
    assert ObjectStoreSettings.from_env({}) is None


def test_half_a_configuration_is_refused() -> None:
    with pytest.raises(SettingsError, match="STORAGE_S3_ENDPOINT"):
        ObjectStoreSettings.from_env({"STORAGE_S3_BUCKET": "b"})
    with pytest.raises(SettingsError, match="STORAGE_S3_ACCESS_KEY"):
        ObjectStoreSettings.from_env({"STORAGE_S3_BUCKET": "b", "STORAGE_S3_ENDPOINT": "http://x"})


def test_settings_never_show_the_secret() -> None:
    settings = ObjectStoreSettings.from_env(
        {
            "STORAGE_S3_ENDPOINT": "http://127.0.0.1:9000/",
            "STORAGE_S3_BUCKET": "b",
            "STORAGE_S3_ACCESS_KEY": "k",
            "STORAGE_S3_SECRET_KEY": "very-secret",
            "STORAGE_S3_PUBLIC_URL": "https://cdn.example/",
        }
    )
    assert settings is not None
    assert settings.endpoint == "http://127.0.0.1:9000"
    assert settings.public_url == "https://cdn.example"
    assert "very-secret" not in repr(settings)


def test_put_get_list_delete(seaweed: SeaweedServer, tmp_path: Path) -> None:
    store = seaweed.store()
    url = "a" * 16
    segment = tmp_path / "seg_00001.ts"
    segment.write_bytes(b"\x47" * 188 * 10)
    assert store.put_file(f"{video_prefix(url)}720p/seg_00001.ts", segment) == 1880
    store.put_bytes(master_key(url), b"#EXTM3U\n")
    store.put_bytes(f"{video_prefix('b' * 16)}720p/index.m3u8", b"#EXTM3U\n")
    assert store.get_bytes(f"{video_prefix(url)}720p/seg_00001.ts", max_bytes=10_000) == segment.read_bytes()
    assert store.get_bytes(f"{video_prefix(url)}720p/none.ts", max_bytes=10) is None
    with pytest.raises(ValueError, match="larger"):
        store.get_bytes(master_key(url), max_bytes=3)
    head = store.client.head_object(Bucket=store.bucket, Key=master_key(url))
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    assert sorted(o.size for o in store.video_objects(url)) == [8, 1880]
    assert store.video_delete(url) == 2
    assert store.video_objects(url) == []
    assert [o.key for o in store.list_prefix("hls/")] == [f"{video_prefix('b' * 16)}720p/index.m3u8"]
