"""The HLS server's configuration, read once from the environment by `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from transcoder.logs import LogFormat, parse_log_format


@dataclass(frozen=True)
class HlsSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    hls_root: Path = Path("data/hls")
    api_base_url: str = "http://127.0.0.1:8000"
    # Without a secret the viewer counts are not reported (the API would refuse them).
    ingest_shared_secret: str = ""
    viewer_window_seconds: float = 30.0
    viewer_report_seconds: float = 10.0
    # Server processes sharing the port (SO_REUSEPORT); 0 means one per CPU.
    workers: int = 0
    # Segments and playlists kept in memory (per worker); larger files go out with sendfile.
    cache_megabytes: int = 128
    cache_file_megabytes: int = 16
    max_connections: int = 4096
    log_level: str = "INFO"
    log_format: LogFormat = "plain"
    # Take the viewer's address from X-Real-IP. Anyone can send that header: turn it on only
    # when hls_out is reachable solely through a proxy that sets it (nginx in docker/).
    trust_proxy_headers: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> HlsSettings:
        data_dir = Path(environ.get("TIDECAST_DATA_DIR", "data"))
        return cls(
            host=environ.get("HLS_HOST", DEFAULTS.host),
            port=int(environ.get("HLS_PORT", str(DEFAULTS.port))),
            hls_root=Path(environ.get("HLS_ROOT", str(data_dir / "hls"))),
            api_base_url=environ.get("API_BASE_URL", DEFAULTS.api_base_url).rstrip("/"),
            ingest_shared_secret=environ.get("INGEST_SHARED_SECRET", ""),
            viewer_window_seconds=float(
                environ.get("HLS_VIEWER_WINDOW_SECONDS", str(DEFAULTS.viewer_window_seconds))
            ),
            viewer_report_seconds=float(
                environ.get("HLS_VIEWER_REPORT_SECONDS", str(DEFAULTS.viewer_report_seconds))
            ),
            cache_megabytes=int(environ.get("HLS_CACHE_MB", str(DEFAULTS.cache_megabytes))),
            cache_file_megabytes=int(environ.get("HLS_CACHE_FILE_MB", str(DEFAULTS.cache_file_megabytes))),
            max_connections=int(environ.get("HLS_MAX_CONNECTIONS", str(DEFAULTS.max_connections))),
            workers=int(environ.get("HLS_WORKERS", str(DEFAULTS.workers))),
            log_level=environ.get("LOG_LEVEL", DEFAULTS.log_level).upper(),
            log_format=parse_log_format(environ.get("LOG_FORMAT", DEFAULTS.log_format)),
            trust_proxy_headers=parse_flag(environ.get("HLS_TRUST_PROXY_HEADERS", "")),
        )


DEFAULTS = HlsSettings()
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def parse_flag(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


def worker_count(settings: HlsSettings) -> int:
    return settings.workers if settings.workers > 0 else os.cpu_count() or 1
