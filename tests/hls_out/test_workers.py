"""`python -m hls_out` with several worker processes: one port, one correct viewer count, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import uvloop
from aiohttp import web
from aiohttp.test_utils import TestServer

from hls_out.viewers import TouchBatch
from hls_out.workers import loop_factory
from tests.netutil import free_port

URL = "abcdefgh12345678"
REPO = Path(__file__).resolve().parents[2]


def test_a_touch_batch_is_bounded_and_emptied_by_take() -> None:
    batch = TouchBatch(max_sessions=2)
    for session in ("a", "b", "a", "c"):
        batch.touch(video_url=URL, session=session, client="10.0.0.1", now=0)
    assert sorted(batch.take()) == [(URL, "a", "10.0.0.1"), (URL, "b", "10.0.0.1")]
    assert batch.take() == []


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
async def api() -> AsyncIterator[tuple[TestServer, list[dict[str, int]]]]:
    """A stand-in for the API's viewers hook, recording what it is sent."""
    reports: list[dict[str, int]] = []

    async def viewers(request: web.Request) -> web.Response:
        assert request.headers["X-Hls-Report-Secret"] == "s3cret"
        reports.append(json.loads(await request.read())["counts"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/internal/viewers", viewers)
    async with TestServer(app) as server:
        yield server, reports


async def test_workers_share_the_port_and_report_one_count_per_video(
    tmp_path: Path, api: tuple[TestServer, list[dict[str, int]]]
) -> None:
    api_server, reports = api
    root = tmp_path / "hls"
    (root / URL / "720p").mkdir(parents=True)
    (root / URL / "720p" / "index.m3u8").write_text("#EXTM3U\n")
    port = free_port()
    env = dict(
        os.environ,
        HLS_ROOT=str(root),
        HLS_PORT=str(port),
        HLS_WORKERS="2",
        API_BASE_URL=str(api_server.make_url("")).rstrip("/"),
        HLS_REPORT_SECRET="s3cret",
        HLS_VIEWER_REPORT_SECONDS="0.5",
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "hls_out", env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}/hls-live/{URL}/720p/index.m3u8"
    players = [f"player-{index}" for index in range(6)]
    try:
        await wait_until_served(url, user_agent=players[0])
        # Each player polls over a keep-alive connection of its own; the kernel spreads the
        # connections over the workers, so workers reporting on their own would each send part.
        sessions = [aiohttp.ClientSession(headers={"User-Agent": player}) for player in players]
        try:
            for _ in range(3):
                for session in sessions:
                    async with session.get(url) as response:
                        assert response.status == 200
            # One player also reconnecting many times is still one viewer.
            for _ in range(20):
                async with (
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as once,
                    once.get(url, headers={"User-Agent": players[0]}) as response,
                ):
                    assert response.status == 200
            for _ in range(50):
                if len(reports) >= 3 and reports[-1].get(URL) == len(players):
                    break
                await asyncio.sleep(0.1)
            for _ in range(3):  # keep polling: the next reports must hold the same total
                for session in sessions:
                    async with session.get(url) as response:
                        assert response.status == 200
                await asyncio.sleep(0.5)
        finally:
            for session in sessions:
                await session.close()
        workers = children_of(process.pid)
        assert len(workers) >= 2
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=15)
    assert code == 0
    assert reports, "no viewer report reached the API"
    settled = reports[[report.get(URL) for report in reports].index(len(players)) :]
    assert settled == [{URL: len(players)}] * len(settled)
    assert len(settled) >= 3
    for _ in range(30):  # the spawn context's resource tracker leaves once the parent's pipe closes
        left = [(pid, process_name(pid)) for pid in workers if process_alive(pid)]
        if not left:
            break
        await asyncio.sleep(0.1)
    assert left == []


async def wait_until_served(url: str, *, user_agent: str) -> None:
    async with aiohttp.ClientSession(headers={"User-Agent": user_agent}) as session:
        for _ in range(150):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the HLS server never answered")


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def process_alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_the_server_runs_on_uvloop_when_it_is_installed() -> None:
    assert loop_factory() is uvloop.new_event_loop


def test_without_uvloop_it_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert loop_factory() is None
