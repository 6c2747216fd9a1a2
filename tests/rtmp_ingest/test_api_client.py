"""The API client against a real local HTTP server: fail closed on anything but a clear yes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rtmp_ingest.api_client import SECRET_HEADER, IngestApiClient, PublishDenial, PublishGrant

SECRET = "unit-test-secret"
KEY = "tc_some-stream-key-0123"
PUBLISH_ID = str(uuid.uuid4())
GRANT_BODY: dict[str, Any] = {
    "allow": True,
    "publish_id": PUBLISH_ID,
    "video_url": "abcdefgh01234567",
    "channel": "demo",
    "ladder": [{"name": "720p", "height": 720, "video_kbps": 2800, "audio_kbps": 128, "profile": "main"}],
    "segment_seconds": 2,
    "heartbeat_interval": 2,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeApi:
    """Records requests; each hook answers with whatever the test sets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []
        self.handlers: dict[str, Handler] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/internal/publish/{hook}", self._route)
        return app

    async def _route(self, request: web.Request) -> web.StreamResponse:
        hook = request.match_info["hook"]
        self.requests.append((hook, await request.json(), request.headers.get(SECRET_HEADER)))
        return await self.handlers[hook](request)


def answer(body: object, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return handler


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeApi, str]]:
    api = FakeApi()
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def client(fake_api: tuple[FakeApi, str]) -> AsyncIterator[IngestApiClient]:
    client = IngestApiClient(base_url=fake_api[1], secret=SECRET, timeout=0.5, end_retry_delays=(0.01, 0.01))
    yield client
    await client.close()


async def test_authorize_allow_returns_the_grant(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    api, _ = fake_api
    api.handlers["authorize"] = answer(GRANT_BODY)
    result = await client.authorize(stream_key=KEY, client_ip="203.0.113.7")
    assert isinstance(result, PublishGrant)
    assert result.publish_id == PUBLISH_ID
    assert result.video_url == "abcdefgh01234567"
    assert [r.name for r in result.ladder] == ["720p"]
    assert api.requests == [("authorize", {"stream_key": KEY, "client_ip": "203.0.113.7"}, SECRET)]


@pytest.mark.parametrize("code", ["unknown_key", "already_live"])
async def test_authorize_deny_carries_the_reason(
    fake_api: tuple[FakeApi, str], client: IngestApiClient, code: str
) -> None:
    fake_api[0].handlers["authorize"] = answer({"allow": False, "code": code, "detail": "no"}, status=403)
    assert await client.authorize(stream_key=KEY, client_ip="::1") == PublishDenial(code)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"detail": "boom"}, 500, "unavailable"),
        ({"detail": "slow down"}, 429, "throttled"),
        ({"detail": "forbidden", "code": "permission_denied"}, 403, "unavailable"),
        ({"allow": "yes", **{k: v for k, v in GRANT_BODY.items() if k != "allow"}}, 200, "unavailable"),
        ({**GRANT_BODY, "video_url": "../../etc/passwd"}, 200, "bad_response"),
        ({**GRANT_BODY, "publish_id": "not-a-uuid"}, 200, "bad_response"),
        ({**GRANT_BODY, "ladder": [{"name": "x/../y", "height": 1}]}, 200, "bad_response"),
        ([1, 2, 3], 200, "unavailable"),
    ],
)
async def test_authorize_anything_but_a_clear_yes_is_a_denial(
    fake_api: tuple[FakeApi, str], client: IngestApiClient, body: object, status: int, reason: str
) -> None:
    fake_api[0].handlers["authorize"] = answer(body, status=status)
    assert await client.authorize(stream_key=KEY, client_ip="127.0.0.1") == PublishDenial(reason)


async def test_authorize_non_json_body_is_a_denial(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>proxy error</html>", status=200)

    fake_api[0].handlers["authorize"] = html
    assert await client.authorize(stream_key=KEY, client_ip="127.0.0.1") == PublishDenial("unavailable")


async def test_authorize_slow_api_times_out_into_a_denial(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response(GRANT_BODY)

    fake_api[0].handlers["authorize"] = slow
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await client.authorize(stream_key=KEY, client_ip="127.0.0.1") == PublishDenial("unavailable")
    assert loop.time() - started < 1.5


async def test_authorize_connection_refused_is_a_denial() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = IngestApiClient(base_url=f"http://127.0.0.1:{port}", secret=SECRET, timeout=0.5)
    try:
        assert await client.authorize(stream_key=KEY, client_ip="127.0.0.1") == PublishDenial("unavailable")
    finally:
        await client.close()


async def test_heartbeat_verdicts(fake_api: tuple[FakeApi, str], client: IngestApiClient) -> None:
    api, _ = fake_api
    api.handlers["heartbeat"] = answer({"continue": True})
    verdict = await client.heartbeat(publish_id=PUBLISH_ID, stats={"fps": 30.0})
    assert verdict is not None
    assert verdict.proceed
    api.handlers["heartbeat"] = answer({"continue": False, "reason": "key_rotated"})
    verdict = await client.heartbeat(publish_id=PUBLISH_ID, stats={})
    assert verdict is not None
    assert (verdict.proceed, verdict.reason) == (False, "key_rotated")
    assert api.requests[0] == ("heartbeat", {"publish_id": PUBLISH_ID, "stats": {"fps": 30.0}}, SECRET)


async def test_heartbeat_unreachable_api_is_no_verdict(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    fake_api[0].handlers["heartbeat"] = answer({"detail": "down"}, status=502)
    assert await client.heartbeat(publish_id=PUBLISH_ID, stats={}) is None


async def test_report_end_retries_until_the_api_records_it(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    api, _ = fake_api
    calls = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls < 3:
            return web.json_response({"detail": "db down"}, status=503)
        return web.json_response({"video_url": "abcdefgh01234567", "status": "ended"})

    api.handlers["end"] = flaky
    assert await client.report_end(publish_id=PUBLISH_ID) is True
    assert calls == 3
    assert all(req == ("end", {"publish_id": PUBLISH_ID}, SECRET) for req in api.requests)


async def test_report_end_gives_up_after_the_last_retry(
    fake_api: tuple[FakeApi, str], client: IngestApiClient
) -> None:
    fake_api[0].handlers["end"] = answer({"detail": "db down"}, status=503)
    assert await client.report_end(publish_id=PUBLISH_ID) is False
    assert len(fake_api[0].requests) == 3  # first try + two retries


async def test_close_waits_for_pending_end_reports(fake_api: tuple[FakeApi, str]) -> None:
    api, base_url = fake_api
    api.handlers["end"] = answer({"video_url": "abcdefgh01234567", "status": "ended"})
    client = IngestApiClient(base_url=base_url, secret=SECRET, timeout=0.5)
    task = client.report_end(publish_id=PUBLISH_ID)
    await client.close()
    assert task.done()
    assert task.result() is True
