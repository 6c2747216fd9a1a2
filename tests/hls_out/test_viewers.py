from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestServer

from hls_out.viewers import ViewerTracker, report_viewers_forever, session_key


def test_sessions_expire_after_the_window() -> None:
    tracker = ViewerTracker(window_seconds=30)
    tracker.touch(video_url="a", session="s1", now=0)
    tracker.touch(video_url="a", session="s2", now=10)
    tracker.touch(video_url="b", session="s1", now=20)
    tracker.touch(video_url="a", session="s1", now=25)  # refreshed
    assert tracker.counts(now=35) == {"a": 2, "b": 1}
    assert tracker.counts(now=45) == {"a": 1, "b": 1}
    assert tracker.counts(now=56) == {}


def test_report_sends_zero_once_for_videos_nobody_watches_any_more() -> None:
    tracker = ViewerTracker(window_seconds=30)
    tracker.touch(video_url="a", session="s1", now=0)
    assert tracker.report(now=1) == {"a": 1}
    assert tracker.report(now=40) == {"a": 0}
    assert tracker.report(now=50) == {}


def test_sessions_are_bounded() -> None:
    tracker = ViewerTracker(window_seconds=30, max_sessions=3)
    for index in range(10):
        tracker.touch(video_url="a", session=str(index), now=index)
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
    tracker.touch(video_url="abcdefgh12345678", session="s", now=asyncio.get_running_loop().time())
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
