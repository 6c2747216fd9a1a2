"""The live pipeline as real processes, seen from outside: the ingest (`python -m rtmp_ingest`, with
its transcoder) and the HLS server (`python -m hls_out`) as subprocesses, plus what a test needs to
look at them: HTTP over a raw socket, ffprobe, playlist parsing and the process table in /proc.

The API is pytest-django's live server (see conftest.py), so the tests can use the ORM as well.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT_SECONDS = 30
STREAM_INF = re.compile(r"#EXT-X-STREAM-INF:(?P<attributes>.*)\n(?P<uri>[^#\n][^\n]*)")
ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


# --- processes -------------------------------------------------------------------------------------


@dataclass
class Service:
    """One component of the stack running as `python -m <module>`, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, *, module: str, port: int, env: Mapping[str, str], log: Path) -> Service:
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", module], cwd=ROOT, env=dict(env), stdout=output, stderr=output
            )
        service = cls(name=module, process=process, port=port, log=log)
        service.wait_listening(timeout=20)
        return service

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_listening(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not listen on {self.port}:\n{self.log_tail()}")

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM, then SIGKILL if it will not go: nothing outlives a test."""
        self.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return ""


def ingest_environment(
    *, port: int, api_base_url: str, secret: str, data_dir: Path, hls_root: Path
) -> dict[str, str]:
    return {
        **os.environ,
        "RTMP_HOST": "127.0.0.1",
        "RTMP_PORT": str(port),
        "INGEST_MAX_STREAMS": "8",  # small test sources, several at a time
        "API_BASE_URL": api_base_url,
        "INGEST_SHARED_SECRET": secret,
        "TIDECAST_DATA_DIR": str(data_dir),
        "HLS_ROOT": str(hls_root),
        "INGEST_SINK": "transcode",
        "INGEST_HEARTBEAT_SECONDS": "1",
        "INGEST_SHUTDOWN_GRACE": "15",
        "PYTHONUNBUFFERED": "1",
    }


def hls_environment(*, port: int, api_base_url: str, secret: str, hls_root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HLS_HOST": "127.0.0.1",
        "HLS_PORT": str(port),
        "HLS_ROOT": str(hls_root),
        "API_BASE_URL": api_base_url,
        "HLS_REPORT_SECRET": secret,
        "PYTHONUNBUFFERED": "1",
    }


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    state: str
    argv: tuple[str, ...]


def process_table() -> list[ProcessInfo]:
    """Every process we may read in /proc (they come and go while we look)."""
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            raw_argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, parent = stat[stat.rfind(")") + 2 :].split()[:2]
        argv = tuple(part.decode(errors="replace") for part in raw_argv.split(b"\0") if part)
        table.append(ProcessInfo(pid=int(entry.name), parent=int(parent), state=state, argv=argv))
    return table


def processes_mentioning(text: str, *, parent: int | None = None) -> list[ProcessInfo]:
    """Live (not zombie) processes whose argv mentions `text`, optionally only children of `parent`."""
    return [
        info
        for info in process_table()
        if any(text in part for part in info.argv)
        and info.state != "Z"
        and (parent is None or info.parent == parent)
    ]


def zombie_children(parent: int) -> list[ProcessInfo]:
    return [info for info in process_table() if info.parent == parent and info.state == "Z"]


def transcoder_pids(*, ingest_pid: int, video_url: str) -> list[int]:
    """The ingest's transcoder children working on `video_url`: the packager process (its spec
    carries the url), which runs ffmpeg and takes it along when it dies."""
    return [
        info.pid
        for info in processes_mentioning(video_url, parent=ingest_pid)
        if "transcoder.package" in info.argv
    ]


def ffmpeg_pids(*, ingest_pid: int, video_url: str) -> list[int]:
    """The ffmpeg processes encoding `video_url`: each packager's own child."""
    packagers = set(transcoder_pids(ingest_pid=ingest_pid, video_url=video_url))
    return [
        info.pid
        for info in process_table()
        if info.parent in packagers and info.state != "Z" and Path(info.argv[0]).name == "ffmpeg"
    ]


# --- HTTP ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def http_get(url: str, *, headers: Mapping[str, str] | None = None, method: str = "GET") -> Response:
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own http URL
            return Response(
                status=answer.status,
                headers={k.lower(): v for k, v in answer.headers.items()},
                body=answer.read(),
            )
    except urllib.error.HTTPError as error:
        return Response(
            status=error.code, headers={k.lower(): v for k, v in error.headers.items()}, body=error.read()
        )


def http_json(url: str) -> dict[str, object]:
    response = http_get(url, headers={"Accept": "application/json"})
    assert response.status == 200, (url, response.status, response.text)
    return dict(json.loads(response.body))


def raw_http_status(port: int, target: str) -> tuple[int, bytes]:
    """Status and body for a request target sent byte for byte, never normalized by a client."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


# --- HLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantEntry:
    uri: str
    attributes: Mapping[str, str]

    @property
    def name(self) -> str:
        """The rendition's folder: `<url>/<name>/index.m3u8`."""
        return self.uri.split("/")[-2]

    @property
    def resolution(self) -> tuple[int, int]:
        width, height = self.attributes["RESOLUTION"].split("x")
        return int(width), int(height)


def master_variants(text: str) -> list[VariantEntry]:
    entries = []
    for match in STREAM_INF.finditer(text):
        attributes = {key: value.strip('"') for key, value in ATTRIBUTE.findall(match["attributes"])}
        entries.append(VariantEntry(uri=match["uri"].strip(), attributes=attributes))
    return entries


def segment_uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def segments_after_discontinuity(playlist: str) -> list[str]:
    """The segments after the last #EXT-X-DISCONTINUITY (none if there is none)."""
    _, marker, after = playlist.rpartition("#EXT-X-DISCONTINUITY\n")
    return segment_uris(after) if marker else []


def ffprobe(url: str, *entries: str) -> dict[str, object]:
    """ffprobe's JSON for `url` (read over HTTP like a player would)."""
    argv = [
        "ffprobe", "-v", "error", "-rw_timeout", "10000000", "-of", "json",
        *entries, url,
    ]  # fmt: skip
    completed = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    return dict(json.loads(completed.stdout))


def probe_streams(url: str) -> list[dict[str, object]]:
    streams = ffprobe(url, "-show_entries", "stream=codec_type,codec_name,width,height")["streams"]
    assert isinstance(streams, list)
    return streams


def probe_duration(url: str) -> float:
    probed = ffprobe(url, "-show_entries", "format=duration")["format"]
    assert isinstance(probed, dict)
    return float(probed["duration"])
