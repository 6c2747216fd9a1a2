"""The HLS server's configuration, read once from the environment by `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tidecast_common.env import Env
from tidecast_common.logs import LogFormat, parse_log_format
from tidecast_common.object_store import ObjectStoreSettings


@dataclass(frozen=True)
class HlsSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    hls_root: Path = Path("data/hls")
    api_base_url: str = "http://127.0.0.1:8000"
    # Without a secret the viewer counts are not reported (the API would refuse them).
    report_secret: str = ""
    viewer_window_seconds: float = 30.0
    viewer_report_seconds: float = 10.0
    # Server processes sharing the port (SO_REUSEPORT); 0 means one per CPU.
    workers: int = 0
    max_connections: int = 4096
    # Low-latency requests held at once (blocking playlist reloads and hinted parts), per process.
    max_blocking_requests: int = 10_000
    # Playlists and small segments kept in memory (per worker process); larger segments are
    # sent from the file.
    playlist_cache_megabytes: int = 64
    segment_cache_megabytes: int = 128
    cached_segment_max_kilobytes: int = 2048
    # Viewer sessions counted for one client address (an IPv6 client by its /64), and in all.
    max_sessions_per_ip: int = 32
    max_viewer_sessions: int = 100_000
    log_level: str = "INFO"
    log_format: LogFormat = "plain"
    # Take the viewer's address from X-Real-IP. Anyone can send that header: turn it on only
    # when hls_out is reachable solely through a proxy that sets it (nginx in docker/).
    trust_proxy_headers: bool = False
    # Prometheus scrape endpoint; port 0 turns it off. Several workers sum their figures through
    # files in `multiprocess_dir`.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    multiprocess_dir: str = ""
    # What is not on local disk is read from the object store, when one is configured.
    store: ObjectStoreSettings | None = None
    store_cache_megabytes: int = 64
    store_max_object_megabytes: int = 64
    # The key playback tokens are signed with (the API's PLAYBACK_TOKEN_KEY); empty: every
    # tokenized request is refused. How long a video's private marker is trusted once read.
    playback_token_key: str = field(default="", repr=False)
    private_check_seconds: float = 1.0
    # Also count the bytes nginx sent from its own disk: its egress log lines, as syslog over UDP
    # on the same host and port (`hls_out.egress_log`).
    egress_log: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> HlsSettings:
        env = Env(environ)
        data_dir = env.path("TIDECAST_DATA_DIR", Path("data"))
        return cls(
            host=env.text("HLS_HOST", DEFAULTS.host),
            port=env.integer("HLS_PORT", DEFAULTS.port, maximum=65535),
            hls_root=env.path("HLS_ROOT", data_dir / "hls"),
            api_base_url=env.text("API_BASE_URL", DEFAULTS.api_base_url).rstrip("/"),
            report_secret=env.text("HLS_REPORT_SECRET"),
            viewer_window_seconds=env.number(
                "HLS_VIEWER_WINDOW_SECONDS", DEFAULTS.viewer_window_seconds, minimum=1
            ),
            viewer_report_seconds=env.number(
                "HLS_VIEWER_REPORT_SECONDS", DEFAULTS.viewer_report_seconds, minimum=0.1
            ),
            max_connections=env.integer("HLS_MAX_CONNECTIONS", DEFAULTS.max_connections, minimum=1),
            max_blocking_requests=env.integer(
                "HLS_MAX_BLOCKING_REQUESTS", DEFAULTS.max_blocking_requests, minimum=1
            ),
            playlist_cache_megabytes=env.integer(
                "HLS_PLAYLIST_CACHE_MB", DEFAULTS.playlist_cache_megabytes, minimum=1
            ),
            segment_cache_megabytes=env.integer(
                "HLS_SEGMENT_CACHE_MB", DEFAULTS.segment_cache_megabytes, minimum=0
            ),
            cached_segment_max_kilobytes=env.integer(
                "HLS_CACHED_SEGMENT_MAX_KB", DEFAULTS.cached_segment_max_kilobytes, minimum=0
            ),
            max_sessions_per_ip=env.integer(
                "HLS_MAX_SESSIONS_PER_IP", DEFAULTS.max_sessions_per_ip, minimum=1
            ),
            max_viewer_sessions=env.integer(
                "HLS_MAX_VIEWER_SESSIONS", DEFAULTS.max_viewer_sessions, minimum=1
            ),
            workers=env.integer("HLS_WORKERS", DEFAULTS.workers, maximum=256),
            log_level=env.text("LOG_LEVEL", DEFAULTS.log_level).upper(),
            log_format=parse_log_format(env.text("LOG_FORMAT", DEFAULTS.log_format)),
            trust_proxy_headers=env.flag("HLS_TRUST_PROXY_HEADERS", default=False),
            metrics_host=env.text("HLS_METRICS_HOST", DEFAULTS.metrics_host),
            metrics_port=env.integer("HLS_METRICS_PORT", DEFAULTS.metrics_port, maximum=65535),
            multiprocess_dir=env.text("PROMETHEUS_MULTIPROC_DIR"),
            store=ObjectStoreSettings.from_env(environ),
            store_cache_megabytes=env.integer(
                "HLS_STORE_CACHE_MB", DEFAULTS.store_cache_megabytes, minimum=1
            ),
            store_max_object_megabytes=env.integer(
                "HLS_STORE_MAX_OBJECT_MB", DEFAULTS.store_max_object_megabytes, minimum=1
            ),
            playback_token_key=env.text("PLAYBACK_TOKEN_KEY"),
            private_check_seconds=env.number(
                "HLS_PRIVATE_CHECK_SECONDS", DEFAULTS.private_check_seconds, minimum=0, maximum=60
            ),
            egress_log=env.flag("HLS_EGRESS_LOG", default=False),
        )


DEFAULTS = HlsSettings()


def worker_count(settings: HlsSettings) -> int:
    return settings.workers if settings.workers > 0 else os.cpu_count() or 1
