"""One logging setup for every Tidecast process: plain lines, or JSON lines with LOG_FORMAT=json.

Free of Django so the ingest, the HLS server and the workers share it; Django's LOGGING names the
same formatter class and filter by dotted path. Pipeline lines carry the stream's video url (never
its key) through `current_video`, a context variable the ingest sets in a connection's task once
its publish is granted: every task started from there (heartbeats, the transcoder's) inherits it.
"""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["plain", "json"]

current_video: ContextVar[str] = ContextVar("current_video", default="")

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(video)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(video)s"
JSON_FORMATTER = "pythonjsonlogger.json.JsonFormatter"


class VideoFilter(logging.Filter):
    """Adds `video` (the current stream's url, or "-") to every record; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "video", None):
            record.video = current_video.get() or "-"
        return True


def parse_log_format(value: str) -> LogFormat:
    return "json" if value.strip().lower() == "json" else "plain"


def formatter_config(fmt: LogFormat) -> dict[str, Any]:
    """The formatter as a `logging.config.dictConfig` entry (Django's LOGGING uses it too)."""
    if fmt == "json":
        return {"()": JSON_FORMATTER, "format": JSON_FIELDS, "rename_fields": {"levelname": "level"}}
    return {"format": PLAIN_FORMAT}


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"video": {"()": VideoFilter}},
        "formatters": {"default": formatter_config(fmt)},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["video"],
            }
        },
        "root": {"handlers": ["console"], "level": level.upper()},
        # watchfiles reports every batch of file changes at INFO: several a second per live stream.
        "loggers": {"watchfiles": {"level": "WARNING"}},
    }


def configure_logging(level: str, fmt: LogFormat = "plain") -> None:
    """Replace whatever the root logger had (pyrtmp configures DEBUG at import) with this setup."""
    logging.config.dictConfig(logging_config(level, fmt))
