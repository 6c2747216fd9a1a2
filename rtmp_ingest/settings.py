"""The ingest's configuration: one frozen object built from the environment in `__main__`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from transcoder.logs import LogFormat, parse_log_format

SinkKind = Literal["transcode", "record"]


class SettingsError(ValueError):
    """A missing or malformed environment variable."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    shared_secret: str
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 1935
    app: str = "streaming"
    api_base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")
    hls_root: Path = Path("data/hls")
    recordings_dir: Path = Path("data/recordings")
    sink: SinkKind = "transcode"
    ffmpeg: str = "ffmpeg"
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    api_timeout: float = 2.5
    heartbeat_interval: float = 2.0
    # Refused publishers wait this long before the close, to slow down key guessing (total < 1 s).
    reject_delay: float = 0.3
    max_connections: int = 256
    max_connections_per_ip: int = 16
    shutdown_grace: float = 10.0
    log_level: str = "INFO"
    log_format: LogFormat = "plain"
    # Prometheus scrape endpoint; port 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        secret = environ.get("INGEST_SHARED_SECRET", "")
        if not secret:
            raise SettingsError("INGEST_SHARED_SECRET is required")
        data_dir = Path(environ.get("TIDECAST_DATA_DIR", "data")).resolve()
        sink = environ.get("INGEST_SINK", "transcode")
        if sink not in ("transcode", "record"):
            raise SettingsError("INGEST_SINK must be 'transcode' or 'record'")
        return cls(
            shared_secret=secret,
            hosts=parse_hosts(environ.get("RTMP_HOST", "127.0.0.1")),
            port=_int(environ, "RTMP_PORT", 1935, minimum=0, maximum=65535),
            app=environ.get("RTMP_APP", "streaming"),
            api_base_url=environ.get("API_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            data_dir=data_dir,
            hls_root=Path(environ.get("HLS_ROOT", str(data_dir / "hls"))),
            recordings_dir=Path(environ.get("INGEST_RECORDINGS_DIR", str(data_dir / "recordings"))),
            sink="record" if sink == "record" else "transcode",
            ffmpeg=environ.get("FFMPEG", "ffmpeg"),
            handshake_timeout=_float(environ, "RTMP_HANDSHAKE_TIMEOUT", 10.0),
            idle_timeout=_float(environ, "RTMP_IDLE_TIMEOUT", 30.0),
            api_timeout=_float(environ, "INGEST_API_TIMEOUT", 2.5),
            heartbeat_interval=_float(environ, "INGEST_HEARTBEAT_SECONDS", 2.0),
            reject_delay=_float(environ, "RTMP_REJECT_DELAY", 0.3, maximum=0.9),
            max_connections=_int(environ, "RTMP_MAX_CONNECTIONS", 256, minimum=1),
            max_connections_per_ip=_int(environ, "RTMP_MAX_CONNECTIONS_PER_IP", 16, minimum=1),
            shutdown_grace=_float(environ, "INGEST_SHUTDOWN_GRACE", 10.0),
            log_level=environ.get("LOG_LEVEL", "INFO").upper(),
            log_format=parse_log_format(environ.get("LOG_FORMAT", "plain")),
            metrics_host=environ.get("INGEST_METRICS_HOST", "127.0.0.1"),
            metrics_port=_int(environ, "INGEST_METRICS_PORT", 9101, minimum=0, maximum=65535),
        )


def parse_hosts(value: str) -> tuple[str, ...]:
    """A comma-separated host list. "::" alone means dual-stack: every IPv4 and IPv6 address.

    asyncio sets IPV6_V6ONLY on IPv6 listeners, so "::" needs "0.0.0.0" beside it to take IPv4 too.
    """
    hosts = tuple(part.strip() for part in value.split(",") if part.strip())
    if not hosts:
        raise SettingsError("RTMP_HOST is empty")
    if hosts == ("::",):
        return ("0.0.0.0", "::")  # noqa: S104 - asked for explicitly with "::"
    return hosts


def _int(
    environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int = 1 << 31
) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float, *, maximum: float = 3600.0) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if not 0 <= value <= maximum:
        raise SettingsError(f"{name} must be between 0 and {maximum}")
    return value
