"""The ingest's configuration: one frozen object built from the environment in `__main__`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rtmp_ingest.adapter import IoLimits
from rtmp_ingest.chunks import ChunkLimits
from rtmp_ingest.connection import ConnectionLimits
from rtmp_ingest.media_policy import MediaLimits
from rtmp_ingest.restream import RestreamLimits
from tidecast_common.env import Env, SettingsError
from tidecast_common.logs import LogFormat, parse_log_format
from transcoder.archive import ArchiveSettings
from transcoder.settings import TranscoderSettings

__all__ = ["IngestSettings", "SettingsError", "parse_hosts"]

SinkKind = Literal["transcode", "record"]

# A publisher with a key the API does not grant sees the refusal within a second (the contract):
# the authorize deadline and the reject delay together get this much of it, the wire the rest.
REFUSAL_BUDGET_SECONDS = 0.9
# Measured (bench/bench_pipeline.py --preset veryfast, the live preset): a 1080p30 source through the
# full default ladder costs about 1.4 CPU seconds per media second, so 2 cores carry one such stream
# in real time with room for the rest of the node; smaller sources cost less (INGEST_MAX_STREAMS).
CPU_SECONDS_PER_STREAM = 1.4


def default_max_streams(cores: int | None = None) -> int:
    """Concurrent transcodes this node sustains in real time: whole streams that fit its cores."""
    available = cores if cores is not None else os.cpu_count() or 1
    return max(1, int(available / CPU_SECONDS_PER_STREAM))


@dataclass(frozen=True, slots=True)
class IngestSettings:
    shared_secret: str
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 1935
    # RTMPS: the same ingest behind TLS on its own port, when a certificate and its key are given.
    rtmps_port: int = 1936
    rtmps_cert_file: Path | None = None
    rtmps_key_file: Path | None = None
    app: str = "streaming"
    api_base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")
    hls_root: Path = Path("data/hls")
    recordings_dir: Path = Path("data/recordings")
    sink: SinkKind = "transcode"
    ffmpeg: str = "ffmpeg"
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    # From the accept to a granted publish; a connection that gets none by then is closed.
    publish_deadline: float = 10.0
    write_timeout: float = 10.0
    # Until a publish is granted: the largest message, and the bytes of all of them together.
    pre_publish_message_bytes: int = 64 * 1024
    pre_publish_bytes: int = 256 * 1024
    max_message_bytes: int = 8 * 1024 * 1024
    # AMF0 values of one command or data message, and parts of one aggregate message.
    max_message_elements: int = 10_000
    # Bytes of incomplete messages that all connections together may hold.
    buffer_budget: int = 256 * 1024 * 1024
    api_timeout: float = 2.5
    # The authorize call alone: short, so that with reject_delay a refusal still lands within 1 s.
    authorize_timeout: float = 0.5
    # A publish whose heartbeats have all failed for this long ends (the API ends it by then too).
    heartbeat_timeout: float = 30.0
    # Publishes transcoded at once on this node; one more is refused (at_capacity).
    max_streams: int = field(default_factory=default_max_streams)
    # Media a publisher may send: H.264 and AAC/MP3 within these (the picture by its long/short sides).
    max_width: int = 3840
    max_height: int = 2160
    max_fps: float = 60.0
    max_kbps: int = 50_000
    max_kbps_seconds: int = 5
    heartbeat_interval: float = 2.0
    # Refused publishers wait this long before the close, to slow down key guessing (total < 1 s).
    reject_delay: float = 0.3
    max_connections: int = 256
    max_connections_per_ip: int = 16
    # Connections without a granted publish; the other slots stay for publishers.
    max_pending_connections: int = 64
    shutdown_grace: float = 10.0
    log_level: str = "INFO"
    log_format: LogFormat = "plain"
    # Prometheus scrape endpoint; port 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    # Restreaming: each destination's ffmpeg and its bounded queue (restream.py).
    restream: RestreamLimits = field(default_factory=RestreamLimits)
    # The live transcoder's limits and ffmpeg's minimal environment.
    transcoder: TranscoderSettings = field(default_factory=TranscoderSettings)
    # Live streams copied into the object store as they are made (None: the file system only).
    archive: ArchiveSettings | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        env = Env(environ)
        data_dir = env.path("TIDECAST_DATA_DIR", Path("data")).resolve()
        return cls(
            shared_secret=env.required("INGEST_SHARED_SECRET"),
            hosts=parse_hosts(env.text("RTMP_HOST", "127.0.0.1")),
            port=env.integer("RTMP_PORT", 1935, maximum=65535),
            rtmps_port=env.integer("RTMPS_PORT", 1936, maximum=65535),
            rtmps_cert_file=_optional_path(env.text("RTMPS_CERT_FILE", "")),
            rtmps_key_file=_optional_path(env.text("RTMPS_KEY_FILE", "")),
            app=env.text("RTMP_APP", "streaming"),
            api_base_url=env.text("API_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            data_dir=data_dir,
            hls_root=env.path("HLS_ROOT", data_dir / "hls"),
            recordings_dir=env.path("INGEST_RECORDINGS_DIR", data_dir / "recordings"),
            sink="record"
            if env.choice("INGEST_SINK", "transcode", ("transcode", "record")) == "record"
            else "transcode",
            ffmpeg=env.text("FFMPEG", "ffmpeg"),
            handshake_timeout=env.number("RTMP_HANDSHAKE_TIMEOUT", 10.0),
            idle_timeout=env.number("RTMP_IDLE_TIMEOUT", 30.0),
            publish_deadline=env.number("RTMP_PUBLISH_DEADLINE", 10.0),
            write_timeout=env.number("RTMP_WRITE_TIMEOUT", 10.0),
            pre_publish_message_bytes=env.integer("RTMP_PRE_PUBLISH_MESSAGE_BYTES", 64 * 1024, minimum=1024),
            pre_publish_bytes=env.integer("RTMP_PRE_PUBLISH_BYTES", 256 * 1024, minimum=1024),
            max_message_bytes=env.integer("RTMP_MAX_MESSAGE_BYTES", 8 * 1024 * 1024, minimum=65536),
            max_message_elements=env.integer("RTMP_MAX_MESSAGE_ELEMENTS", 10_000, minimum=100),
            buffer_budget=env.integer("RTMP_BUFFER_BUDGET", 256 * 1024 * 1024, minimum=1024 * 1024),
            api_timeout=env.number("INGEST_API_TIMEOUT", 2.5),
            authorize_timeout=env.number("INGEST_AUTHORIZE_TIMEOUT", 0.5, maximum=5.0),
            heartbeat_interval=env.number("INGEST_HEARTBEAT_SECONDS", 2.0),
            heartbeat_timeout=env.number("INGEST_HEARTBEAT_TIMEOUT", 30.0),
            max_streams=env.integer("INGEST_MAX_STREAMS", default_max_streams(), minimum=1),
            max_width=env.integer("INGEST_MAX_WIDTH", 3840, minimum=16),
            max_height=env.integer("INGEST_MAX_HEIGHT", 2160, minimum=16),
            max_fps=env.number("INGEST_MAX_FPS", 60.0, minimum=1.0, maximum=1000.0),
            max_kbps=env.integer("INGEST_MAX_KBPS", 50_000, minimum=100),
            max_kbps_seconds=env.integer("INGEST_MAX_KBPS_SECONDS", 5, minimum=1, maximum=60),
            reject_delay=env.number("RTMP_REJECT_DELAY", 0.3, maximum=0.9),
            max_connections=env.integer("RTMP_MAX_CONNECTIONS", 256, minimum=1),
            max_connections_per_ip=env.integer("RTMP_MAX_CONNECTIONS_PER_IP", 16, minimum=1),
            max_pending_connections=env.integer("RTMP_MAX_PENDING_CONNECTIONS", 64, minimum=1),
            shutdown_grace=env.number("INGEST_SHUTDOWN_GRACE", 10.0),
            log_level=env.text("LOG_LEVEL", "INFO").upper(),
            log_format=parse_log_format(env.text("LOG_FORMAT", "plain")),
            metrics_host=env.text("INGEST_METRICS_HOST", "127.0.0.1"),
            metrics_port=env.integer("INGEST_METRICS_PORT", 9101, maximum=65535),
            restream=_restream_limits(env),
            transcoder=TranscoderSettings.from_env(environ),
            archive=ArchiveSettings.from_env(environ),
        )

    def __post_init__(self) -> None:
        if self.authorize_timeout + self.reject_delay > REFUSAL_BUDGET_SECONDS:
            raise SettingsError(
                f"INGEST_AUTHORIZE_TIMEOUT plus RTMP_REJECT_DELAY may be at most {REFUSAL_BUDGET_SECONDS:g} s, "
                "so that a refused publisher hears it within a second"
            )
        if (self.rtmps_cert_file is None) != (self.rtmps_key_file is None):
            raise SettingsError("RTMPS needs both RTMPS_CERT_FILE and RTMPS_KEY_FILE, or neither")
        try:
            self.connection_limits()
            self.io_limits()
        except ValueError as error:
            raise SettingsError(str(error)) from None

    @property
    def rtmps_enabled(self) -> bool:
        return self.rtmps_cert_file is not None and self.rtmps_key_file is not None

    def media_limits(self) -> MediaLimits:
        """What a publisher may send, as these settings make it (width and height as long and short side)."""
        return MediaLimits(
            max_long_side=max(self.max_width, self.max_height),
            max_short_side=min(self.max_width, self.max_height),
            max_fps=self.max_fps,
            max_kbps=self.max_kbps,
            max_kbps_seconds=self.max_kbps_seconds,
        )

    def io_limits(self) -> IoLimits:
        """The deadlines of one connection's I/O, as these settings make them."""
        return IoLimits(
            handshake_timeout=self.handshake_timeout,
            idle_timeout=self.idle_timeout,
            publish_deadline=self.publish_deadline,
            write_timeout=self.write_timeout,
        )

    def connection_limits(self) -> ConnectionLimits:
        """The protocol limits of one connection, as these settings make them."""
        chunks = ChunkLimits(
            max_message_length=self.max_message_bytes,
            max_pending_bytes=2 * self.max_message_bytes,
            max_message_elements=self.max_message_elements,
        )
        return ConnectionLimits(
            pre_publish_message_bytes=self.pre_publish_message_bytes,
            pre_publish_bytes=self.pre_publish_bytes,
            max_message_elements=self.max_message_elements,
            chunks=chunks,
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


def _restream_limits(env: Env) -> RestreamLimits:
    try:
        return RestreamLimits(
            queue_bytes=env.integer("RESTREAM_QUEUE_BYTES", 8 * 1024 * 1024, minimum=64 * 1024),
            max_destinations=env.integer("RESTREAM_MAX_DESTINATIONS", 5, minimum=0, maximum=64),
            connect_timeout=env.number("RESTREAM_CONNECT_TIMEOUT", 10.0, minimum=0.5),
            retry_initial=env.number("RESTREAM_RETRY_INITIAL_SECONDS", 1.0, minimum=0.1),
            retry_max=env.number("RESTREAM_RETRY_MAX_SECONDS", 60.0, minimum=0.1),
            io_timeout=env.number("RESTREAM_IO_TIMEOUT", 10.0, minimum=0.5),
            engine=env.choice("RESTREAM_ENGINE", "native", ("native", "ffmpeg")),
            ca_file=_ca_file(env.text("RESTREAM_CA_FILE", "")),
        )
    except ValueError as error:
        raise SettingsError(f"restream: {error}") from None


def _ca_file(value: str) -> str | None:
    path = _optional_path(value)
    if path is not None and not path.is_file():
        raise ValueError(f"RESTREAM_CA_FILE {path} is not a file")
    return str(path) if path else None


def _optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value.strip() else None
