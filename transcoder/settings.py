"""The live transcoder's limits and ffmpeg's environment, read once from the process environment.

ffmpeg gets a minimal environment: the variables it needs to find itself and its libraries and to
format times, nothing else, so the parent's secrets (`INGEST_SHARED_SECRET`, `SECRET_KEY`, ...)
never reach it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tidecast_common.env import Env
from transcoder.supervisor import ProcessLimits

# What ffmpeg may read from its environment: where programs and libraries are, the time zone
# (program-date-time tags) and the locale.
CHILD_ENVIRONMENT_NAMES = ("PATH", "LD_LIBRARY_PATH", "TZ", "LANG", "LC_ALL")
DEFAULT_CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_PART_SECONDS = 0.333


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allowed subset of `environ`, with a PATH in any case."""
    kept = {name: environ[name] for name in CHILD_ENVIRONMENT_NAMES if environ.get(name)}
    kept.setdefault("PATH", DEFAULT_CHILD_PATH)
    return kept


@dataclass(frozen=True, slots=True)
class TranscoderSettings:
    limits: ProcessLimits = field(default_factory=ProcessLimits)
    environment: Mapping[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_CHILD_PATH})
    # Low-Latency HLS part duration (rounded to whole frames): a fragment of every rendition.
    part_seconds: float = DEFAULT_PART_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TranscoderSettings:
        env = Env(environ)
        defaults = ProcessLimits()
        limits = ProcessLimits(
            max_restarts=env.integer("TRANSCODER_MAX_RESTARTS", defaults.max_restarts, maximum=1000),
            restart_window_seconds=env.number(
                "TRANSCODER_RESTART_WINDOW_SECONDS", defaults.restart_window_seconds, minimum=1.0
            ),
            restart_pause_seconds=env.number(
                "TRANSCODER_RESTART_PAUSE_SECONDS", defaults.restart_pause_seconds, maximum=60.0
            ),
            write_timeout_seconds=env.number(
                "TRANSCODER_WRITE_TIMEOUT_SECONDS", defaults.write_timeout_seconds, minimum=0.1
            ),
            finish_timeout_seconds=env.number(
                "TRANSCODER_FINISH_TIMEOUT_SECONDS", defaults.finish_timeout_seconds, minimum=0.1
            ),
            terminate_timeout_seconds=env.number(
                "TRANSCODER_TERMINATE_TIMEOUT_SECONDS", defaults.terminate_timeout_seconds, minimum=0.1
            ),
            stderr_tail_lines=env.integer(
                "TRANSCODER_STDERR_TAIL_LINES", defaults.stderr_tail_lines, minimum=1, maximum=10_000
            ),
        )
        part_seconds = env.number("HLS_PART_SECONDS", DEFAULT_PART_SECONDS, minimum=0.1, maximum=1.0)
        return cls(limits=limits, environment=child_environment(environ), part_seconds=part_seconds)
