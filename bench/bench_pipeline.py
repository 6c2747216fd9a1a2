"""The live pipeline against nginx-rtmp with `exec ffmpeg`, for a 1080p30 source, side by side.

    .venv/bin/python bench/bench_pipeline.py [--seconds 20] [--preset ultrafast] [--offline]

A 1080p30 H.264 + AAC FLV is published with `ffmpeg -re` (at real time) to each pipeline in turn:

- Tidecast: the real ingest (`rtmp_ingest`'s IngestServer in a process of its own, with its API
  answered by a stand-in in this process), which feeds one `LiveTranscode` ffmpeg: one decode,
  `split` into 720p/480p/360p, the source copied.
- nginx-rtmp, the classic `exec` setup: one `exec ffmpeg -i rtmp://.../live/$name ... -f hls` per
  rendition, three processes each decoding the source (Debian `nginx` + `libnginx-mod-rtmp`).
- nginx-rtmp, the module wiki's ABR example: one `exec ffmpeg` with three outputs pushed back to an
  `hls on` application, so one decode, and nginx writes the HLS.

All encode x264 at the same preset with the same bitrates, GOP and segment length, audio copied.
For each: publish-to-first-playable time (the master, if the pipeline writes one, and every
rendition with a segment); live-edge delay (how far behind the publisher's clock the newest
segment's end is when it appears in the 360p playlist); CPU-seconds per media second of the whole
pipeline (the server process with every ffmpeg it started, from the kernel's rusage of the reaped
process tree; the publisher is not counted); and the concurrent 1080p30 streams this machine's
cores hold at real time (cores / CPU per media second, an estimate).

`--offline` adds the transcode-only comparison on a file read as fast as possible: Tidecast's one
ffmpeg against three separate ones. Needs nginx with the rtmp module (as root:
apt-get install -y nginx libnginx-mod-rtmp), which the script installs when it runs as root.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netutil import free_port, wait_listening  # noqa: E402

from tidecast_common.ladder import DEFAULT_VARIANTS  # noqa: E402
from transcoder.codecs import SpsInfo  # noqa: E402
from transcoder.command import build_cmaf_command  # noqa: E402 - after the path insert
from transcoder.ladder import SourceInfo, build_ladder  # noqa: E402
from transcoder.llhls import fragment_microseconds  # noqa: E402

SEGMENT_SECONDS = 2
FPS = 30
GOP = FPS * SEGMENT_SECONDS
VIDEO_URL = "benchbenchbench1"
STREAM_KEY = "bench-stream-key"
SECRET = "bench-secret"  # noqa: S105 - the stand-in API's, on loopback
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
# The API's default TRANSCODE_LADDER; the source rendition is implied.
LADDER = [
    {"name": "720p", "height": 720, "video_kbps": 2800, "audio_kbps": 128, "profile": "main"},
    {"name": "480p", "height": 480, "video_kbps": 1400, "audio_kbps": 96, "profile": "main"},
    {"name": "360p", "height": 360, "video_kbps": 800, "audio_kbps": 96, "profile": "baseline"},
]


@dataclasses.dataclass
class Result:
    first_playable: float
    delay_mean: float
    delay_max: float
    cpu_seconds: float
    server_cpu_seconds: float  # the ingest / nginx processes alone, without their ffmpeg children
    media_seconds: float

    @property
    def cpu_per_media_second(self) -> float:
        return self.cpu_seconds / self.media_seconds


# -- tools and sources


def ensure_tools() -> None:
    missing = [] if shutil.which("nginx") or Path("/usr/sbin/nginx").exists() else ["nginx"]
    if not RTMP_MODULE.exists():
        missing.append("libnginx-mod-rtmp")
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"needed: {' '.join(missing)} (as root: apt-get install -y {' '.join(missing)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4500k", "-g", str(GOP),
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)],
        check=True,
    )  # fmt: skip


def x264_options(kbps: int, preset: str) -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-b:v", f"{kbps}k", "-maxrate", f"{kbps * 107 // 100}k",
            "-bufsize", f"{kbps * 3 // 2}k", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
            "-pix_fmt", "yuv420p"]  # fmt: skip


# -- watching playlists


def segment_durations(path: Path) -> list[tuple[str, float]]:
    """(segment URI, duration) in playlist order."""
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    segments, duration = [], None
    for line in lines:
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    return segments


def playable(path: Path) -> bool:
    """A segment listed, or (Low-Latency HLS) a part: a player can start."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return False
    return "#EXTINF:" in text or "#EXT-X-PART:" in text


class PlaylistWatcher:
    """Polls the playlists every 20 ms from a thread: first playable time and live-edge delays."""

    def __init__(self, *, master: Path | None, variants: list[Path], edge: Path) -> None:
        self.master, self.variants, self.edge = master, variants, edge
        self.started = 0.0
        self.first_playable: float | None = None
        self.delays: list[float] = []
        self._seen: dict[str, float] = {}
        self._media_end = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, started: float) -> None:
        self.started = started
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            now = time.monotonic() - self.started
            if (
                self.first_playable is None
                and (self.master is None or self.master.exists())
                and all(playable(variant) for variant in self.variants)
            ):
                self.first_playable = now
            for uri, duration in segment_durations(self.edge):
                if uri not in self._seen:
                    self._media_end += duration
                    self._seen[uri] = self._media_end
                    self.delays.append(now - self._media_end)


# -- processes and their CPU


def own_cpu_seconds(pid: int) -> float:
    """utime + stime of the process itself (and its threads), from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_and_reap(process: subprocess.Popen[bytes], sig: int, timeout: float = 30.0) -> float:
    """Signal the process, wait for it, and return the CPU seconds of its whole reaped tree."""
    process.send_signal(sig)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            _pid, _status, usage = os.wait4(process.pid, 0)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def publish(source: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(source), "-c", "copy", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_publish(
    *,
    server: subprocess.Popen[bytes],
    server_pids: Callable[[], list[int]],
    stop_signal: int,
    source: Path,
    publish_url: str,
    watcher: PlaylistWatcher,
    media_seconds: float,
    finished: Callable[[], bool],
) -> Result:
    started = time.monotonic()
    publisher = publish(source, publish_url)
    watcher.start(started)
    try:
        publisher.wait(timeout=media_seconds * 3 + 30)
        deadline = time.monotonic() + 15
        while not finished() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        watcher.stop()
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        server_cpu = sum(own_cpu_seconds(pid) for pid in server_pids())
        cpu = stop_and_reap(server, stop_signal)
    produced = sum(duration for _uri, duration in segment_durations(watcher.edge))
    if watcher.first_playable is None or not watcher.delays:
        raise SystemExit("no playable output: see the logs above")
    live = watcher.delays[:-1] or watcher.delays  # the last segment is cut short by the end of the input
    return Result(
        first_playable=watcher.first_playable,
        delay_mean=sum(live) / len(live),
        delay_max=max(live),
        cpu_seconds=cpu,
        server_cpu_seconds=server_cpu,
        # What came out: a pipeline stopped before it caught up has done less work for its CPU.
        media_seconds=min(produced, media_seconds),
    )


def has_endlist(path: Path) -> bool:
    try:
        return "#EXT-X-ENDLIST" in path.read_text()
    except FileNotFoundError:
        return False


# -- Tidecast


class StandInApi:
    """The API's internal publish hooks, answered from a thread: allow the bench key, keep going."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.headers.get("X-Ingest-Secret") != SECRET:
                    self._answer(403, {"detail": "forbidden", "code": "forbidden"})
                elif self.path == "/api/internal/publish/authorize" and body.get("stream_key") == STREAM_KEY:
                    self._answer(
                        200,
                        {"allow": True, "publish_id": str(uuid.uuid4()), "video_url": VIDEO_URL,
                         "channel": "bench", "ladder": LADDER, "segment_seconds": SEGMENT_SECONDS,
                         "heartbeat_interval": 2},
                    )  # fmt: skip
                elif self.path == "/api/internal/publish/heartbeat":
                    self._answer(200, {"continue": True})
                elif self.path == "/api/internal/publish/end":
                    self._answer(200, {"video_url": VIDEO_URL, "status": "ended"})
                else:
                    self._answer(403, {"allow": False, "code": "unknown_key", "detail": "unknown key"})

            def _answer(self, status: int, payload: dict[str, object]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_ingest(preset: str) -> None:
    """The ingest process (`--serve-ingest`): rtmp_ingest's server with LiveTranscode at `preset`."""
    import uvloop

    from rtmp_ingest.__main__ import serve
    from rtmp_ingest.api_client import PublishGrant
    from rtmp_ingest.settings import IngestSettings
    from rtmp_ingest.sinks import MediaSink
    from tidecast_common.logs import configure_logging
    from transcoder.live import LiveTranscode

    settings = IngestSettings.from_env(os.environ)
    configure_logging(settings.log_level)

    def transcode(grant: PublishGrant) -> MediaSink:
        ladder = [dataclasses.asdict(rendition) for rendition in grant.ladder]
        return LiveTranscode(video_url=grant.video_url, ladder=ladder, hls_root=settings.hls_root,
                             segment_seconds=grant.segment_seconds, ffmpeg=settings.ffmpeg, preset=preset)  # fmt: skip

    uvloop.run(serve(settings, sinks=transcode))


def run_tidecast(work: Path, source: Path, media_seconds: float, preset: str) -> Result:
    root = work / "tidecast"
    root.mkdir()
    port = free_port()
    api = StandInApi()
    env = dict(
        os.environ,
        INGEST_SHARED_SECRET=SECRET,
        API_BASE_URL=api.url,
        RTMP_PORT=str(port),
        HLS_ROOT=str(root),
        TIDECAST_DATA_DIR=str(work / "tidecast-data"),
        LOG_LEVEL="WARNING",
    )
    ingest = subprocess.Popen(
        [sys.executable, __file__, "--serve-ingest", "--preset", preset], env=env, cwd=REPO
    )
    try:
        wait_listening(port, timeout=15.0)
        variants = [root / VIDEO_URL / name / "index.m3u8" for name in ("source", "720p", "480p", "360p")]
        watcher = PlaylistWatcher(master=root / f"{VIDEO_URL}.m3u8", variants=variants, edge=variants[-1])
        return run_publish(
            server=ingest,
            server_pids=lambda: [ingest.pid],
            stop_signal=signal.SIGTERM,
            source=source,
            publish_url=f"rtmp://127.0.0.1:{port}/streaming/{STREAM_KEY}",
            watcher=watcher,
            media_seconds=media_seconds,
            finished=lambda: all(has_endlist(variant) for variant in variants),
        )
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
        api.close()


# -- nginx-rtmp

NGINX_CONF = """
load_module {module};
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
{applications}
    }}
}}
"""


def nginx_exec_per_rendition(ffmpeg: str, port: int, out: Path, preset: str) -> str:
    """The classic setup: one exec'd ffmpeg per rendition, each decoding the source."""
    lines = []
    for variant in LADDER:
        folder = out / str(variant["name"])
        argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", f"rtmp://127.0.0.1:{port}/live/$name",
                "-vf", f"scale=-2:{variant['height']}", *x264_options(int(variant["video_kbps"]), preset),
                "-c:a", "copy", "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0",
                "-hls_flags", "temp_file", "-hls_segment_filename", f"{folder}/seg_%05d.ts",
                f"{folder}/index.m3u8"]  # fmt: skip
        lines.append("            exec " + " ".join(argv) + ";")
    return "        application live {\n            live on;\n" + "\n".join(lines) + "\n        }"


def nginx_one_exec_three_outputs(ffmpeg: str, port: int, out: Path, preset: str) -> str:
    """The module wiki's ABR example: one ffmpeg, three outputs pushed to an `hls on` application."""
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", f"rtmp://127.0.0.1:{port}/live/$name"]
    variants = []
    for variant in LADDER:
        argv += ["-vf", f"scale=-2:{variant['height']}", *x264_options(int(variant["video_kbps"]), preset),
                 "-c:a", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/hls/$name_{variant['name']}"]  # fmt: skip
        bandwidth = (int(variant["video_kbps"]) + 128) * 1000
        variants.append(f"            hls_variant _{variant['name']} BANDWIDTH={bandwidth};")
    live = (
        "        application live {\n            live on;\n            exec "
        + " ".join(argv)
        + ";\n        }"
    )
    hls = (
        "        application hls {\n            live on;\n            hls on;\n"
        f"            hls_path {out};\n            hls_nested on;\n"
        f"            hls_fragment {SEGMENT_SECONDS}s;\n            hls_playlist_length 600s;\n"
        + "\n".join(variants)
        + "\n        }"
    )
    return live + "\n" + hls


def run_nginx(work: Path, source: Path, media_seconds: float, preset: str, *, one_exec: bool) -> Result:
    name = "nginx-one-exec" if one_exec else "nginx-exec"
    folder = work / name
    out = folder / "hls"
    ffmpeg = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
    port = free_port()
    if one_exec:
        applications = nginx_one_exec_three_outputs(ffmpeg, port, out, preset)
        variants = [out / f"stream_{variant['name']}" / "index.m3u8" for variant in LADDER]
        master: Path | None = out / "stream.m3u8"
    else:
        applications = nginx_exec_per_rendition(ffmpeg, port, out, preset)
        variants = [out / str(variant["name"]) / "index.m3u8" for variant in LADDER]
        master = None
    # nginx's worker (and the ffmpeg it starts) runs as an unprivileged user when started as root.
    folders = [folder, out] if one_exec else [folder, out, *(variant.parent for variant in variants)]
    for path in folders:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
    (folder / "nginx.conf").write_text(
        NGINX_CONF.format(module=RTMP_MODULE, work=folder, port=port, applications=applications)
    )
    nginx = subprocess.Popen(["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)])
    try:
        wait_listening(port, timeout=15.0)
        watcher = PlaylistWatcher(master=master, variants=variants, edge=variants[-1])
        started = time.monotonic()
        result = run_publish(
            server=nginx,
            server_pids=lambda: [nginx.pid, *children(nginx.pid)],  # master and worker
            stop_signal=signal.SIGQUIT,  # graceful: the worker ends its streams and reaps the exec'd ffmpegs
            source=source,
            publish_url=f"rtmp://127.0.0.1:{port}/live/stream",
            watcher=watcher,
            media_seconds=media_seconds,
            finished=lambda: time.monotonic() - started > media_seconds + 4,
        )
    finally:
        if nginx.poll() is None:
            nginx.kill()
            nginx.wait()
    # ("[alert] unknown process ... exited on signal 9" is nginx-rtmp killing its exec'd ffmpegs.)
    errors = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
    if "[emerg]" in errors:
        print(errors[-2000:], file=sys.stderr)
    return result


# -- the transcode alone, as fast as possible


def run_measured(argvs: list[list[str]], source: Path) -> float:
    """Run the commands concurrently, each fed the file on stdin; their CPU seconds."""
    processes = []
    for argv in argvs:
        with source.open("rb") as stdin:
            processes.append(
                subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    cpu = 0.0
    for process in processes:
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"ffmpeg failed: {process.args}")
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def offline_comparison(work: Path, source: Path, preset: str) -> tuple[float, float]:
    renditions = build_ladder(
        # make_source's picture: 8-bit 4:2:0 High (x264 veryfast), passed through as the ingest would.
        source=SourceInfo(width=1920, height=1080, fps=FPS, video_sps=SpsInfo(
            width=1920, height=1080, profile_idc=100, constraint_flags=0, level_idc=40, fps=FPS)),
        variants=DEFAULT_VARIANTS,
        segment_seconds=SEGMENT_SECONDS,
    )  # fmt: skip
    (work / "offline-single").mkdir()
    outputs = [str(work / "offline-single" / f"{rendition.name}.mp4") for rendition in renditions]
    single = [build_cmaf_command(renditions=renditions, outputs=outputs, segment_seconds=SEGMENT_SECONDS,
                                 fragment_microseconds=fragment_microseconds(0.333, FPS), has_audio=True,
                                 copy_audio=True, preset=preset)]  # fmt: skip
    three = []
    for variant in LADDER:
        folder = work / "offline-three" / str(variant["name"])
        folder.mkdir(parents=True)
        three.append(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "flv", "-i", "pipe:0",
             "-vf", f"scale=-2:{variant['height']}", *x264_options(int(variant["video_kbps"]), preset),
             "-c:a", "copy", "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0",
             str(folder / "index.m3u8")]
        )  # fmt: skip
    return run_measured(single, source), run_measured(three, source)


@contextlib.contextmanager
def working_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tidecast-bench-pipeline-") as folder:
        work = Path(folder)
        work.chmod(0o755)
        yield work


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--preset", default="ultrafast")
    parser.add_argument("--offline", action="store_true", help="also compare the transcode alone on a file")
    parser.add_argument("--serve-ingest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ingest:
        serve_ingest(args.preset)
        return
    ensure_tools()
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    with working_folder() as work:
        source = work / "source.flv"
        make_source(source, args.seconds)
        media = float(args.seconds)
        results = {
            "Tidecast": run_tidecast(work, source, media, args.preset),
            "nginx-rtmp exec x3": run_nginx(work, source, media, args.preset, one_exec=False),
            "nginx-rtmp 1 exec, 3 outputs": run_nginx(work, source, media, args.preset, one_exec=True),
        }
        offline = offline_comparison(work, source, args.preset) if args.offline else None
    reference = results["nginx-rtmp exec x3"].cpu_per_media_second
    print(
        f"1080p30 source published at real time for {args.seconds} s, x264 {args.preset}, "
        f"{SEGMENT_SECONDS} s segments, {cores} cores, load average {load:.2f} before"
    )
    print(f"{'':44}" + "".join(f"{label:>30}" for label in results))
    rows: list[tuple[str, Callable[[Result], str]]] = [
        (f"first playable (target {SEGMENT_SECONDS + 1.5:.1f} s)", lambda r: f"{r.first_playable:.2f} s"),
        (f"live-edge delay mean (target <= {2 * SEGMENT_SECONDS} s)", lambda r: f"{r.delay_mean:.2f} s"),
        ("live-edge delay max", lambda r: f"{r.delay_max:.2f} s"),
        ("CPU-seconds per media second", lambda r: f"{r.cpu_per_media_second:.3f}"),
        ("  of which ingest / nginx itself", lambda r: f"{r.server_cpu_seconds / r.media_seconds:.3f}"),
        ("  ratio to the exec x3 setup (target 0.65)", lambda r: f"{r.cpu_per_media_second / reference:.2f}"),
        (f"1080p30 streams at real time on {cores} cores", lambda r: f"{cores / r.cpu_per_media_second:.1f}"),
    ]
    for label, cell in rows:
        print(f"{label:44}" + "".join(f"{cell(result):>30}" for result in results.values()))
    if offline is not None:
        single, three = offline
        print("\nTranscode alone, file read as fast as possible (CPU-seconds per media second):")
        print(
            f"  Tidecast's one ffmpeg {single / media:.3f}, three ffmpeg {three / media:.3f}, ratio {single / three:.2f}"
        )


if __name__ == "__main__":
    main()
