"""The HLS layout and the video-url rule, the same for every process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidecast_common import layout
from tidecast_common.layout import HlsLayout

URL = "abcdefghij012345"


def test_every_path_of_a_video_follows_from_its_url_and_rendition() -> None:
    files = HlsLayout(Path("/srv/hls"))
    assert files.master(URL) == Path("/srv/hls/abcdefghij012345.m3u8")
    assert files.video_dir(URL) == Path("/srv/hls/abcdefghij012345")
    assert files.variant_playlist(URL, "720p") == Path("/srv/hls/abcdefghij012345/720p/index.m3u8")
    assert files.segment_pattern(URL, "720p") == Path("/srv/hls/abcdefghij012345/720p/seg_%05d.ts")


def test_urls_match_the_files_below_the_prefix() -> None:
    assert layout.master_url("http://cdn.example/hls-live/", URL) == f"http://cdn.example/hls-live/{URL}.m3u8"
    assert layout.master_url("http://cdn.example/hls-live", URL) == f"http://cdn.example/hls-live/{URL}.m3u8"
    assert layout.variant_uri(URL, "source") == f"{URL}/source/index.m3u8"
    # What the master lists, resolved against the master's URL, is what the server serves.
    assert layout.SERVABLE_PATH.fullmatch(layout.URL_PREFIX + layout.master_name(URL))
    assert layout.SERVABLE_PATH.fullmatch(layout.URL_PREFIX + layout.variant_uri(URL, "360p"))
    assert layout.SERVABLE_PATH.fullmatch(f"{layout.URL_PREFIX}{URL}/360p/seg_00001.ts")
    assert layout.SERVABLE_PATH.fullmatch(f"{layout.URL_PREFIX}{URL}/360p/init.mp4")


@pytest.mark.parametrize(
    "path",
    [
        f"/hls-live/{URL}.ts",
        f"/hls-live/{URL}/../x/index.m3u8",
        f"/hls-live/{URL}/720p/../../etc.m3u8",
        f"/hls-live/{URL[:-1]}.m3u8",
        f"/hls-live/{URL.upper()}.m3u8",
        f"/hls-live/{URL}/720p/index.html",
        f"/other/{URL}.m3u8",
    ],
)
def test_nothing_else_is_servable(path: str) -> None:
    assert layout.SERVABLE_PATH.fullmatch(path) is None


def test_new_video_urls_follow_the_rule_and_differ() -> None:
    urls = {layout.new_video_url() for _ in range(200)}
    assert len(urls) == 200
    assert all(layout.is_video_url(url) for url in urls)


@pytest.mark.parametrize("value", ["", "abc", URL + "x", URL.upper(), "abcdefghij01234-", "abcdefghij01234/"])
def test_what_is_not_a_video_url(value: str) -> None:
    assert not layout.is_video_url(value)


@pytest.mark.parametrize(("value", "ok"), [("720p", True), ("source", True), ("hd_1", True), ("a-b", True),
                                           ("", False), ("-x", False), ("720P", False), ("../x", False),
                                           ("x" * 33, False)])  # fmt: skip
def test_rendition_names(value: str, ok: bool) -> None:
    assert layout.is_rendition_name(value) is ok
