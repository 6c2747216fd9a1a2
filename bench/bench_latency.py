"""Glass-to-glass latency of Low-Latency HLS in Chromium + hls.js, and the HLS server's cost of
holding blocking low-latency viewers.

    .venv/bin/python bench/bench_latency.py [--seconds 30] [--preset veryfast] [--viewers 500]

1. Latency. A 1280x720 30 fps H.264 + AAC stream (2 s keyframes, as OBS sends) is published with
   `ffmpeg -re` to the real ingest (a stand-in answers its API calls), transcoded with the full
   ladder (the API's default: source copied, 480p and 360p encoded; 720p is not below the source), served by a real `python -m hls_out`, and played
   by headless Chromium with hls.js (`lowLatencyMode`, `maxLiveSyncPlaybackRate` 1.5, as the watch
   page sets them), once on the source rendition and once on 360p. Every 100 ms for `--seconds`
   the page reads the publisher's clock minus the playing frame's media time: the packager dates
   media time 0 (`#EXT-X-PROGRAM-DATE-TIME` of segment 0) with the wall clock at which the
   publisher's first frame reached the ingest, on this machine, and hls.js puts the fragmented
   MP4's media time on `video.currentTime`. The median and the maximum are printed.
2. Publish to first playable playlist: from the publisher's start until the master and every
   rendition's playlist (with a part) answer over HTTP.
3. Blocking viewers: `--viewers` clients each loop on blocking reloads of the next part
   (`_HLS_msn`/`_HLS_part`) of one rendition while a stand-in packager publishes a part every
   third of a second; the HLS server's CPU-seconds per second are read from /proc.

Beside the figures: the same stream in the same run played by hls.js with `lowLatencyMode` off
(what a player without Low-Latency HLS gets from the same URLs), Tidecast's standard HLS before
Low-Latency HLS (7.9 s in Chromium with hls.js 1.7.4, measured then), and MediaMTX's published
LL-HLS figure (1-2 s in a browser, single rendition, no transcoding; it has no package on the
registries this bench installs from), as references.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_pipeline import StandInApi  # noqa: E402
from netutil import free_port, wait_listening  # noqa: E402

from tidecast_common.llhls import parse_date_time, playlist_state  # noqa: E402

VIDEO_URL = "benchbenchbench1"
STREAM_KEY = "bench-stream-key"
SECRET = "bench-secret"  # noqa: S105 - the stand-in API's, on loopback
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STANDARD_HLS_SECONDS = 7.9  # before Low-Latency HLS: 2 s MPEG-TS segments, Chromium + hls.js 1.7.4, 720p30
MEDIAMTX_SECONDS = "1-2"  # MediaMTX's LL-HLS in a browser, as published (one rendition, no transcode)
PAGE = """<!doctype html><html><body><video id="video" muted autoplay playsinline></video>
<script src="/hls.min.js"></script><script>
window.bench = {origin: null, samples: []};
const video = document.getElementById("video");
const hls = new Hls(PLAYER_CONFIG);
hls.on(Hls.Events.MANIFEST_PARSED, () => {
  const wanted = hls.levels.findIndex((level) => String(level.uri || level.url).includes("/RENDITION/"));
  hls.currentLevel = wanted; hls.nextLevel = wanted; hls.autoLevelCapping = -1;
  video.play();
});
hls.loadSource("MASTER");
hls.attachMedia(video);
window.hls = hls;
</script></body></html>"""


# The watch page's player; and a player without Low-Latency HLS (Safari before 14, older hls.js,
# any plain HLS client) on the same URLs: it holds back three target durations.
LOW_LATENCY_PLAYER = '{"lowLatencyMode": true, "maxLiveSyncPlaybackRate": 1.5, "backBufferLength": 30}'
STANDARD_PLAYER = '{"lowLatencyMode": false, "backBufferLength": 30}'


@dataclasses.dataclass
class Latency:
    rendition: str
    player: str
    median: float
    maximum: float
    samples: int
    first_playable: float


def publish(url: str, seconds: float) -> subprocess.Popen[bytes]:
    argv = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-b:v", "3000k", "-maxrate", "3000k",
        "-bufsize", "3000k", "-c:a", "aac", "-b:a", "128k", "-f", "flv", url,
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def http_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def stack(work: Path, preset: str) -> Iterator[tuple[int, str]]:
    """The ingest (transcoding) and hls_out on loopback; (RTMP port, HLS base URL)."""
    root = work / "hls"
    root.mkdir(parents=True, exist_ok=True)
    api = StandInApi()
    rtmp_port, hls_port = free_port(), free_port()
    common = dict(os.environ, HLS_ROOT=str(root), TIDECAST_DATA_DIR=str(work / "data"), LOG_LEVEL="WARNING")
    ingest = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "bench_pipeline.py"), "--serve-ingest", "--preset", preset],
        env=dict(common, INGEST_SHARED_SECRET=SECRET, API_BASE_URL=api.url, RTMP_PORT=str(rtmp_port)),
        cwd=REPO,
    )
    hls = subprocess.Popen(
        [sys.executable, "-m", "hls_out"],
        env=dict(common, HLS_PORT=str(hls_port), HLS_WORKERS="1", HLS_REPORT_SECRET=""),
        cwd=REPO,
    )
    try:
        wait_listening(rtmp_port, timeout=15.0)
        wait_listening(hls_port, timeout=15.0)
        yield rtmp_port, f"http://127.0.0.1:{hls_port}/hls-live/"
    finally:
        for process in (ingest, hls):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        api.close()


def wait_playable(hls_url: str, started: float, timeout: float = 20.0) -> float:
    """Seconds from `started` until the master and every variant (with a part) answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        master = http_text(f"{hls_url}{VIDEO_URL}.m3u8")
        if master and "#EXT-X-STREAM-INF" in master:
            uris = [line for line in master.splitlines() if line and not line.startswith("#")]
            texts = [http_text(hls_url + uri) for uri in uris]
            if all(text and "#EXT-X-PART:" in text for text in texts):
                return time.monotonic() - started
        time.sleep(0.02)
    raise RuntimeError("no playable playlist")


def measure_latency(
    work: Path, preset: str, rendition: str, seconds: float, *, low_latency: bool = True
) -> Latency:
    from playwright.sync_api import sync_playwright

    player = "low-latency" if low_latency else "standard"
    with stack(work / f"{rendition}-{player}", preset) as (rtmp_port, hls_url):
        started = time.monotonic()
        publisher = publish(f"rtmp://127.0.0.1:{rtmp_port}/streaming/{STREAM_KEY}", seconds + 25)
        try:
            first_playable = wait_playable(hls_url, started)
            variant = http_text(f"{hls_url}{VIDEO_URL}/{rendition}/index.m3u8") or ""
            pdt = next(line for line in variant.splitlines() if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"))
            origin = parse_date_time(pdt.partition(":")[2])
            page_html = (
                PAGE.replace("MASTER", f"{hls_url}{VIDEO_URL}.m3u8")
                .replace("RENDITION", rendition)
                .replace("PLAYER_CONFIG", LOW_LATENCY_PLAYER if low_latency else STANDARD_PLAYER)
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"],
                )
                page = browser.new_page()
                # The page comes from the HLS server's origin (loopback): Chromium lets a public
                # origin reach loopback addresses only after a private-network preflight.
                site = hls_url.removesuffix("/hls-live/")
                page.route(
                    f"{site}/bench.html",
                    lambda route: route.fulfill(body=page_html, content_type="text/html"),
                )
                page.route(f"{site}/hls.min.js", lambda route: route.fulfill(path=str(HLS_JS)))
                page.goto(f"{site}/bench.html")
                page.wait_for_function(
                    "() => document.getElementById('video').currentTime > 2", timeout=30_000
                )
                time.sleep(3)  # hls.js settles on its target latency
                samples = []
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    samples.append(
                        page.evaluate(
                            f"() => Date.now() / 1000 - {origin} - document.getElementById('video').currentTime"
                        )
                    )
                    time.sleep(0.1)
                playing = page.evaluate("() => window.hls.levels[window.hls.currentLevel].height")
                browser.close()
        finally:
            publisher.kill()
            publisher.wait()
    print(f"  {rendition}, {player} player: playing {playing}p, {len(samples)} samples")
    return Latency(rendition, player, statistics.median(samples), max(samples), len(samples), first_playable)


# -- blocking viewers


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def blocking_viewers(work: Path, viewers: int, seconds: float) -> tuple[float, int, int]:
    """(HLS server CPU-seconds per second, answers, errors) for `viewers` looping blocking clients."""
    sys.path.insert(0, str(REPO / "tests" / "hls_out"))
    from test_blocking import Packager  # the stand-in packager of the server's own tests

    root = work / "blocking"
    packager = Packager(root / VIDEO_URL / "360p", segment_seconds=2)
    for _ in range(4):
        packager.fragment()
    port = free_port()
    environment = dict(os.environ, HLS_ROOT=str(root), HLS_PORT=str(port), HLS_WORKERS="1",
                       HLS_REPORT_SECRET="", LOG_LEVEL="WARNING", HLS_MAX_CONNECTIONS=str(viewers + 100))  # fmt: skip
    hls = subprocess.Popen([sys.executable, "-m", "hls_out"], env=environment, cwd=REPO)
    try:
        wait_listening(port, timeout=15.0)
        url = f"http://127.0.0.1:{port}/hls-live/{VIDEO_URL}/360p/index.m3u8"
        return asyncio.run(_viewers(url, packager, hls.pid, viewers, seconds))
    finally:
        hls.send_signal(signal.SIGTERM)
        hls.wait(timeout=20)


async def _viewers(url: str, packager: Any, pid: int, viewers: int, seconds: float) -> tuple[float, int, int]:
    import aiohttp

    counts = {"answers": 0, "errors": 0}
    stop = asyncio.Event()

    async def viewer(session: aiohttp.ClientSession, number: int) -> None:
        text = (packager.folder / "index.m3u8").read_text()
        while not stop.is_set():
            state = playlist_state(text)
            query = f"_HLS_msn={state.last_msn + 1}&_HLS_part={state.parts}&session={number}"
            try:
                async with session.get(f"{url}?{query}") as response:
                    text = await response.text()
                    counts["answers" if response.status == 200 else "errors"] += 1
            except (aiohttp.ClientError, TimeoutError):
                counts["errors"] += 1
                await asyncio.sleep(0.1)

    async def publisher() -> None:
        while not stop.is_set():
            await asyncio.sleep(1 / 3)
            packager.fragment()

    connector = aiohttp.TCPConnector(limit=viewers + 10)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as session:
        tasks = [asyncio.create_task(viewer(session, n)) for n in range(viewers)]
        feeding = asyncio.create_task(publisher())
        await asyncio.sleep(3)  # every viewer connected and waiting
        counts.update(answers=0, errors=0)
        before, started = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        used, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
        answered = dict(counts)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, feeding, return_exceptions=True), timeout=20)
    return used / elapsed, answered["answers"], answered["errors"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--skip-browser", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidecast-bench-latency-") as folder:
        work = Path(folder)
        results = []
        if not options.skip_browser:
            for rendition in ("source", "360p"):
                print(f"latency, {rendition} rendition ({options.seconds:.0f} s)...", flush=True)
                results.append(measure_latency(work, options.preset, rendition, options.seconds))
            print(
                f"latency, source rendition, player without low latency ({options.seconds:.0f} s)...",
                flush=True,
            )
            standard = measure_latency(work, options.preset, "source", options.seconds, low_latency=False)
        print(f"{options.viewers} blocking viewers...", flush=True)
        cpu, answers, errors = blocking_viewers(work, options.viewers, 20.0)

    print()
    print(f"Glass-to-glass, 720p30 publish, full ladder at {options.preset}, Chromium + hls.js low-latency:")
    for result in results:
        print(f"  {result.rendition:>6}, {result.player}: median {result.median:.2f} s, max {result.maximum:.2f} s "
              f"({result.samples} samples); publish to first playable playlist {result.first_playable:.2f} s")  # fmt: skip
    if not options.skip_browser:
        print(
            f"  reference, same stream and run, hls.js with lowLatencyMode off (a player without "
            f"LL-HLS): median {standard.median:.2f} s, max {standard.maximum:.2f} s ({standard.samples} samples)"
        )
    print(
        f"  reference: Tidecast's standard HLS before Low-Latency HLS {STANDARD_HLS_SECONDS:.1f} s (measured "
        f"then, 2 s MPEG-TS segments); MediaMTX LL-HLS (published; no package to run here) "
        f"{MEDIAMTX_SECONDS} s, one rendition, no transcoding"
    )
    print(f"HLS server, {options.viewers} blocking low-latency viewers of one rendition, a part every 1/3 s:")
    print(f"  {cpu:.3f} CPU-seconds per second; {answers} answers in 20 s, {errors} errors")


if __name__ == "__main__":
    main()
