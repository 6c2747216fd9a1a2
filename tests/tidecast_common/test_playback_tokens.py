"""Playback tokens: minted and verified without I/O."""

from __future__ import annotations

import pytest

from tidecast_common.playback_tokens import (
    TOKEN_PATH_PREFIX,
    Verdict,
    is_segment_path,
    mint,
    split_token_path,
    token_master_url,
    verify,
)

KEY = b"k" * 32
URL = "abcdefgh12345678"
OTHER = "zzzzzzzz00000000"


def token(expires: int = 1000, grace: int = 50, key: bytes = KEY, url: str = URL) -> str:
    return mint(key=key, video_url=url, expires=expires, grace=grace)


def check(value: str, *, now: float, segment: bool = False, url: str = URL, key: bytes = KEY) -> Verdict:
    return verify(key=key, token=value, video_url=url, now=now, segment=segment)


def test_a_token_opens_its_video_until_it_expires() -> None:
    value = token()
    assert check(value, now=999.9) is Verdict.VALID
    assert check(value, now=1000) is Verdict.EXPIRED


def test_segments_are_served_for_the_grace_after_the_expiry() -> None:
    value = token(expires=1000, grace=50)
    assert check(value, now=1049, segment=True) is Verdict.VALID
    assert check(value, now=1050, segment=True) is Verdict.EXPIRED
    assert check(value, now=1001, segment=False) is Verdict.EXPIRED


def test_a_token_opens_no_other_video() -> None:
    assert check(token(), now=0, url=OTHER) is Verdict.INVALID


def test_another_key_is_refused() -> None:
    assert check(token(key=b"x" * 32), now=0) is Verdict.INVALID


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t.replace("1000.", "9000.", 1),  # a later expiry
        lambda t: t.replace(".50.", ".99999.", 1),  # a longer grace
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the signature
        lambda t: t[:-2],  # shortened
        lambda t: t + "A",
        lambda t: "",
        lambda t: "1000.50." + "A" * 43,
        lambda t: t.replace(".", "-"),
    ],
)
def test_altered_tokens_are_refused(alter: object) -> None:
    assert callable(alter)
    assert check(alter(token()), now=0) is Verdict.INVALID


def test_a_short_key_neither_mints_nor_verifies() -> None:
    with pytest.raises(ValueError, match="too short"):
        mint(key=b"short", video_url=URL, expires=1, grace=0)
    assert check(token(), now=0, key=b"") is Verdict.INVALID


def test_mint_refuses_what_is_not_a_video_url() -> None:
    with pytest.raises(ValueError, match="video url"):
        mint(key=KEY, video_url="../etc/passwd123", expires=1, grace=0)


def test_token_paths_are_taken_apart() -> None:
    value = token()
    parts = split_token_path(f"{TOKEN_PATH_PREFIX}{value}/{URL}/720p/seg_00001.ts")
    assert parts is not None
    assert (parts.token, parts.video_url, parts.plain_path) == (
        value,
        URL,
        f"/hls-live/{URL}/720p/seg_00001.ts",
    )
    master = split_token_path(f"{TOKEN_PATH_PREFIX}{value}/{URL}.m3u8")
    assert master is not None
    assert master.plain_path == f"/hls-live/{URL}.m3u8"
    assert split_token_path(f"/hls-live/{URL}.m3u8") is None
    assert split_token_path(f"{TOKEN_PATH_PREFIX}garbage/{URL}.m3u8") is None
    assert split_token_path(f"{TOKEN_PATH_PREFIX}{value}/{URL}x.m3u8") is None


def test_the_master_url_keeps_the_token_in_the_path() -> None:
    url = token_master_url("http://h:8080/hls-live/", token="T", video_url=URL)
    assert url == f"http://h:8080/hls-live/t/T/{URL}.m3u8"


def test_playlists_get_no_grace() -> None:
    assert is_segment_path("/hls-live/x/720p/seg_00001.ts")
    assert is_segment_path("/hls-live/x/720p/init.mp4")
    assert not is_segment_path("/hls-live/x/720p/index.m3u8")
