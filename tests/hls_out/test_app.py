"""The pure parts of the HLS application: the once-a-second viewer filter and Range handling."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from hls_out.app import single_range_request
from hls_out.viewers import RecentViewers

PLAYER = ("abcdefgh12345678", "203.0.113.7", "hls.js", None)


def test_a_player_is_passed_on_once_a_second() -> None:
    recent = RecentViewers()
    assert recent.seen_this_second(PLAYER, now=10.1) is False
    assert recent.seen_this_second(PLAYER, now=10.9) is True
    assert recent.seen_this_second((*PLAYER[:3], "tab-2"), now=10.9) is False
    assert recent.seen_this_second(PLAYER, now=11.0) is False


def test_the_filter_is_bounded() -> None:
    recent = RecentViewers(max_entries=2)
    for agent in ("a", "b", "c"):
        recent.seen_this_second((*PLAYER[:2], agent, None), now=1)
    assert recent.seen_this_second((*PLAYER[:2], "c", None), now=1) is True
    assert recent.seen_this_second((*PLAYER[:2], "a", None), now=1) is False  # forgotten: passed again


def test_one_range_is_kept_and_several_are_dropped() -> None:
    single = make_mocked_request("GET", "/", headers={"Range": "bytes=0-9"})
    assert single_range_request(single) is single
    several = single_range_request(make_mocked_request("GET", "/", headers={"Range": "bytes=0-9,20-29"}))
    assert "Range" not in several.headers
