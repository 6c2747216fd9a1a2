"""The shared logging setup: JSON or plain lines, and the video url carried by the task context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from tidecast_common.logs import LogFormat, configure_logging, current_video, logging_config, parse_log_format

Configure = Callable[[str, LogFormat], io.StringIO]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """configure_logging as a process calls it, the console handler's output kept for the test."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def run(level: str, fmt: LogFormat) -> io.StringIO:
        configure_logging(level, fmt)
        (console,) = root.handlers
        assert isinstance(console, logging.StreamHandler)
        output = io.StringIO()
        console.setStream(output)
        return output

    yield run
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_json_lines_carry_the_video_of_the_task_that_logged(configure: Configure) -> None:
    captured = configure("INFO", "json")
    log = logging.getLogger("rtmp_ingest.controller")

    async def connection(url: str) -> None:
        current_video.set(url)
        log.info("publish started")
        await asyncio.get_running_loop().create_task(child())  # started later: inherits the url

    async def child() -> None:
        await asyncio.sleep(0)
        logging.getLogger("transcoder.live").warning("ffmpeg exited: %d", 1)

    async def main() -> None:
        await asyncio.gather(connection("aaaaaaaaaaaaaaaa"), connection("bbbbbbbbbbbbbbbb"))
        log.info("outside any stream")

    asyncio.run(main())
    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(record["name"], record["video"]) for record in records] == [
        ("rtmp_ingest.controller", "aaaaaaaaaaaaaaaa"),
        ("rtmp_ingest.controller", "bbbbbbbbbbbbbbbb"),
        ("transcoder.live", "aaaaaaaaaaaaaaaa"),
        ("transcoder.live", "bbbbbbbbbbbbbbbb"),
        ("rtmp_ingest.controller", "-"),
    ]
    assert records[2]["message"] == "ffmpeg exited: 1"
    assert records[2]["level"] == "WARNING"
    assert current_video.get() == ""


def test_plain_lines_show_the_video_and_the_level_applies(configure: Configure) -> None:
    captured = configure("warning", "plain")
    token = current_video.set("cccccccccccccccc")
    try:
        logging.getLogger("transcoder.live").info("hidden")
        logging.getLogger("transcoder.live").error("shown")
    finally:
        current_video.reset(token)
    (line,) = captured.getvalue().splitlines()
    assert line.endswith(" ERROR transcoder.live [cccccccccccccccc] shown")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_exceptions_stay_on_one_json_line(configure: Configure) -> None:
    captured = configure("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert "ValueError: boom" in record["exc_info"]


@pytest.mark.parametrize(
    ("raw", "expected"), [("json", "json"), (" JSON ", "json"), ("", "plain"), ("text", "plain")]
)
def test_log_format_parsing(raw: str, expected: str) -> None:
    assert parse_log_format(raw) == expected


def test_django_uses_the_same_configuration() -> None:
    from django.conf import settings

    assert settings.LOGGING["filters"] == logging_config("INFO", "plain")["filters"]
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["video"]
