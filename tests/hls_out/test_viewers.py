from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestServer

from hls_out.viewers import ViewerTracker, report_viewers_forever, session_key


def test_sessions_expire_after_the_window() -> None:
    tracker = ViewerTracker(window_seconds=30)
    tracker.touch(video_url="a", session="s1", client="10.0.0.1", now=0)
    tracker.touch(video_url="a", session="s2", client="10.0.0.1", now=10)
    tracker.touch(video_url="b", session="s1", client="10.0.0.1", now=20)
    tracker.touch(video_url="a", session="s1", client="10.0.0.1", now=25)  # refreshed
    assert tracker.counts(now=35) == {"a": 2, "b": 1}
    assert tracker.counts(now=45) == {"a": 1, "b": 1}
    assert tracker.counts(now=56) == {}


def test_report_sends_zero_once_for_videos_nobody_watches_any_more() -> None:
    tracker = ViewerTracker(window_seconds=30)
    tracker.touch(video_url="a", session="s1", client="10.0.0.1", now=0)
    assert tracker.report(now=1) == {"a": 1}
    assert tracker.report(now=40) == {"a": 0}
    assert tracker.report(now=50) == {}


def test_sessions_are_bounded() -> None:
    tracker = ViewerTracker(window_seconds=30, max_sessions=3)
    for index in range(10):
        tracker.touch(video_url="a", session=str(index), client="10.0.0.1", now=index)
    assert tracker.counts(now=10) == {"a": 3}


def test_session_keys() -> None:
    first = session_key(client_ip="10.0.0.1", user_agent="hls.js")
    assert first == session_key(client_ip="10.0.0.1", user_agent="hls.js")
    assert first != session_key(client_ip="10.0.0.2", user_agent="hls.js")
    assert session_key(client_ip="1", user_agent="x", token="t") == session_key(
        client_ip="2", user_agent="y", token="t"
    )


async def test_counts_are_posted_to_the_api_with_the_shared_secret() -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def viewers(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Hls-Report-Secret"), json.loads(await request.read())))
        return web.Response(status=204)

    api = web.Application()
    api.router.add_post("/api/internal/viewers", viewers)
    tracker = ViewerTracker(window_seconds=30)
    tracker.touch(
        video_url="abcdefgh12345678", session="s", client="10.0.0.1", now=asyncio.get_running_loop().time()
    )
    async with TestServer(api) as server:
        task = asyncio.create_task(
            report_viewers_forever(
                tracker=tracker,
                api_base_url=str(server.make_url("")).rstrip("/"),
                secret="s3cret",
                interval=0.05,
            )
        )
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        task.cancel()
    assert received[0] == ("s3cret", {"counts": {"abcdefgh12345678": 1}})


def test_one_client_cannot_count_more_than_its_share_of_sessions() -> None:
    tracker = ViewerTracker(window_seconds=30, max_per_client=5)
    for index in range(1000):  # made-up ?session= tokens or User-Agents, one address
        tracker.touch(video_url="a", session=f"forged-{index}", client="203.0.113.7", now=1)
    tracker.touch(video_url="a", session="neighbour", client="198.51.100.23", now=1)
    assert tracker.counts(now=2) == {"a": 6}
    assert len(tracker) == 6
    # Its counted sessions keep counting while they play.
    tracker.touch(video_url="a", session="forged-0", client="203.0.113.7", now=20)
    assert tracker.counts(now=40) == {"a": 1}


def test_a_clients_share_frees_up_as_its_sessions_expire() -> None:
    tracker = ViewerTracker(window_seconds=30, max_per_client=2)
    for session in ("s1", "s2", "s3"):
        tracker.touch(video_url="a", session=session, client="203.0.113.7", now=0)
    assert tracker.counts(now=1) == {"a": 2}
    assert tracker.counts(now=31) == {}
    for session in ("s3", "s4", "s5"):
        tracker.touch(video_url="a", session=session, client="203.0.113.7", now=32)
    assert tracker.counts(now=33) == {"a": 2}


def test_an_ipv6_subscriber_is_bounded_by_its_64_prefix() -> None:
    tracker = ViewerTracker(window_seconds=30, max_per_client=3)
    for index in range(50):  # every address of one /64 is one subscriber's
        tracker.touch(video_url="a", session=f"s{index}", client=f"2001:db8:1:2::{index:x}", now=0)
    tracker.touch(video_url="a", session="other", client="2001:db8:1:3::1", now=0)
    assert tracker.counts(now=1) == {"a": 4}


def test_the_total_bound_evicts_the_oldest_and_frees_its_clients_share() -> None:
    tracker = ViewerTracker(window_seconds=30, max_sessions=4, max_per_client=2)
    for index in range(20):
        tracker.touch(video_url="a", session=f"s{index}", client=f"192.0.2.{index}", now=index)
    assert len(tracker) == 4
    tracker.touch(video_url="a", session="again", client="192.0.2.0", now=21)  # evicted: room again
    assert tracker.counts(now=22) == {"a": 4}
