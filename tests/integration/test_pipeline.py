"""The live pipeline through the real stack: real ffmpeg publishing over RTMP to `python -m rtmp_ingest`
(transcoding), authorized by the real API (pytest-django's live server, PostgreSQL in CI), played back
over HTTP from `python -m hls_out` with ffprobe as the player.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as DjangoSettings

from tests.integration.conftest import Publisher, Streamer, ffmpeg_publish
from tests.integration.llhls_rules import check_aligned, check_live, check_vod
from tests.integration.stack import (
    Service,
    VariantEntry,
    ffmpeg_pids,
    hls_environment,
    http_get,
    http_json,
    ingest_environment,
    master_variants,
    probe_duration,
    probe_streams,
    processes_mentioning,
    raw_http_status,
    segment_uris,
    segments_after_discontinuity,
    transcoder_pids,
    zombie_children,
)
from tests.netutil import free_port, wait_until
from tidecast_common.llhls import playlist_state

SEGMENT_SECONDS = 2
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp4"  # fragmented MP4 segments (CMAF)
ENDLIST = "#EXT-X-ENDLIST"
# A rung below 360p so that the small 640x360 sources used by most tests are transcoded too.
SMALL_RUNG = {"name": "240p", "height": 240, "video_kbps": 400, "audio_kbps": 64, "profile": "baseline"}


@dataclass
class Pipeline:
    api_base_url: str
    ingest: Service
    hls: Service
    hls_root: Path
    services: list[Service] = field(default_factory=list)

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.ingest.port}/streaming"

    @property
    def hls_url(self) -> str:
        return f"http://127.0.0.1:{self.hls.port}/hls-live/"

    def master_url(self, video_url: str) -> str:
        return f"{self.hls_url}{video_url}.m3u8"

    def variant_url(self, entry: VariantEntry) -> str:
        return self.hls_url + entry.uri

    def logs(self) -> str:
        return "\n".join(f"--- {service.name}\n{service.log_tail()}" for service in self.services)

    def publish(self, streamer: Streamer, *, seconds: float, size: str) -> Publisher:
        return ffmpeg_publish(f"{self.rtmp_url}/{streamer.key}", seconds=seconds, size=size)

    def video_status(self, video_url: str) -> object:
        return http_json(f"{self.api_base_url}/api/videos/{video_url}")["status"]

    def wait_live_video(self, channel: str, *, timeout: float = 15) -> str:
        """The url of the channel's live video, as the public API shows it."""
        found: list[str] = []

        def live() -> bool:
            video = http_json(f"{self.api_base_url}/api/channels/{channel}").get("live_video")
            if isinstance(video, dict):
                found.append(str(video["url"]))
            return bool(found)

        assert wait_until(live, timeout=timeout, interval=0.2), f"{channel} is not live\n{self.logs()}"
        return found[0]

    def wait_status(self, video_url: str, status: str, *, timeout: float = 15) -> None:
        assert wait_until(lambda: self.video_status(video_url) == status, timeout=timeout, interval=0.2), (
            f"{video_url} is {self.video_status(video_url)}, not {status}\n{self.logs()}"
        )

    def wait_master(self, video_url: str, *, timeout: float = 30) -> list[VariantEntry]:
        """The master playlist over HTTP, once the transcoder has published it."""
        variants: list[VariantEntry] = []

        def published() -> bool:
            response = http_get(self.master_url(video_url))
            if response.status == 200:
                variants[:] = master_variants(response.text)
            return bool(variants)

        assert wait_until(published, timeout=timeout), f"no master for {video_url}\n{self.logs()}"
        return variants

    def playlist(self, entry: VariantEntry) -> str:
        response = http_get(self.variant_url(entry))
        assert response.status == 200, (entry.uri, response.status)
        return response.text

    def wait_playlists(
        self, variants: list[VariantEntry], check: Callable[[str], bool], *, timeout: float
    ) -> None:
        for entry in variants:
            matches = functools.partial(self.playlist_matches, entry, check)
            assert wait_until(matches, timeout=timeout), (
                f"{entry.uri}:\n{self.playlist(entry)}\n{self.logs()}"
            )

    def playlist_matches(self, entry: VariantEntry, check: Callable[[str], bool]) -> bool:
        return check(self.playlist(entry))


@pytest.fixture
def start_service() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(**kwargs: object) -> Service:
        service = Service.start(**kwargs)  # type: ignore[arg-type]
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def hls_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "hls"
    root.mkdir()
    yield root
    # Whatever happened in the test, no ffmpeg writing here survives it.
    for leftover in processes_mentioning(str(root)):
        os.kill(leftover.pid, signal.SIGKILL)


@pytest.fixture
def pipeline(
    api_base_url: str, hls_root: Path, tmp_path: Path, start_service: Callable[..., Service]
) -> Pipeline:
    secret = django_settings.INGEST_SHARED_SECRET
    hls_port, rtmp_port = free_port(), free_port()
    hls = start_service(
        module="hls_out",
        port=hls_port,
        env=hls_environment(
            port=hls_port,
            api_base_url=api_base_url,
            secret=django_settings.HLS_REPORT_SECRET,
            hls_root=hls_root,
        ),
        log=tmp_path / "hls_out.log",
    )
    ingest = start_service(
        module="rtmp_ingest",
        port=rtmp_port,
        env=ingest_environment(
            port=rtmp_port, api_base_url=api_base_url, secret=secret, data_dir=tmp_path, hls_root=hls_root
        ),
        log=tmp_path / "rtmp_ingest.log",
    )
    return Pipeline(
        api_base_url=api_base_url, ingest=ingest, hls=hls, hls_root=hls_root, services=[hls, ingest]
    )


@pytest.fixture
def small_ladder(settings: DjangoSettings) -> None:
    """The default ladder plus a 240p rung, so 640x360 sources get an encoded rendition as well."""
    settings.TRANSCODE_LADDER = [*django_settings.TRANSCODE_LADDER, SMALL_RUNG]


def resolutions(variants: list[VariantEntry]) -> dict[str, tuple[int, int]]:
    return {entry.name: entry.resolution for entry in variants}


def test_full_ladder_plays_over_http_and_stays_playable_when_the_publisher_stops(
    pipeline: Pipeline, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    published_seconds = 10
    streamer = make_streamer("ladder")
    publisher = pipeline.publish(streamer, seconds=published_seconds, size="1920x1080")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("ladder")
    assert pipeline.video_status(video_url) == "live"

    variants = pipeline.wait_master(video_url)
    assert resolutions(variants) == {
        "source": (1920, 1080),
        "720p": (1280, 720),
        "480p": (854, 480),
        "360p": (640, 360),
    }
    for entry in variants:
        assert int(entry.attributes["BANDWIDTH"]) > 0, entry
        codecs = entry.attributes["CODECS"].split(",")
        assert codecs[0].startswith("avc1."), entry
        assert codecs[1].startswith("mp4a.40."), entry

    master = http_get(pipeline.master_url(video_url))
    assert master.headers["content-type"] == PLAYLIST_TYPE
    assert master.headers["access-control-allow-origin"] == "*"
    assert "no-cache" in master.headers["cache-control"]
    preflight = http_get(
        pipeline.master_url(video_url),
        method="OPTIONS",
        headers={"Origin": "http://player.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "*"

    # The master comes with the first part; segments follow.
    pipeline.wait_playlists(variants, lambda text: len(segment_uris(text)) >= 1, timeout=15)
    for entry in variants:
        variant = http_get(pipeline.variant_url(entry))
        assert variant.status == 200
        assert variant.headers["content-type"] == PLAYLIST_TYPE
        assert variant.headers["access-control-allow-origin"] == "*"
        first_segment = segment_uris(variant.text)[0]
        segment = http_get(pipeline.variant_url(entry).rsplit("/", 1)[0] + "/" + first_segment)
        assert segment.status == 200
        assert segment.headers["content-type"] == SEGMENT_TYPE
        assert segment.headers["access-control-allow-origin"] == "*"
        assert len(segment.body) > 0

        streams = probe_streams(pipeline.variant_url(entry))
        video = [s for s in streams if s["codec_type"] == "video"]
        audio = [s for s in streams if s["codec_type"] == "audio"]
        assert [(s["codec_name"], s["width"], s["height"]) for s in video] == [("h264", *entry.resolution)]
        assert [s["codec_name"] for s in audio] == ["aac"], streams

    code, _ = publisher.wait(published_seconds + 30)
    assert code == 0, publisher.stderr()
    pipeline.wait_playlists(variants, lambda text: text.rstrip().endswith(ENDLIST), timeout=15)
    pipeline.wait_status(video_url, "ended")
    for entry in variants:
        duration = probe_duration(pipeline.variant_url(entry))
        assert abs(duration - published_seconds) <= SEGMENT_SECONDS, (entry.name, duration)


def test_killed_transcoder_is_restarted_and_the_stream_goes_on_after_a_discontinuity(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    small_ladder: None,
) -> None:
    streamer = make_streamer("phoenix")
    publisher = pipeline.publish(streamer, seconds=14, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("phoenix")
    variants = pipeline.wait_master(video_url)
    assert resolutions(variants) == {"source": (640, 360), "240p": (426, 240)}
    pipeline.wait_playlists(variants, lambda text: len(segment_uris(text)) >= 2, timeout=15)

    # ffmpeg itself dies (the OOM killer, a crash): its packager ends with it and the ingest's
    # supervisor starts the pair again.
    [packager] = transcoder_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)
    [first] = ffmpeg_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)
    before_kill = {entry.name: pipeline.playlist(entry) for entry in variants}
    os.kill(first, signal.SIGKILL)
    restarted: list[int] = []

    def restarted_ffmpeg() -> bool:
        restarted[:] = ffmpeg_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)
        return bool(restarted) and first not in restarted

    assert wait_until(restarted_ffmpeg, timeout=2.0, interval=0.05), pipeline.logs()
    assert len(restarted) == 1
    assert packager not in transcoder_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)
    assert not zombie_children(pipeline.ingest.pid)

    # The same playlists go on: a discontinuity, then new segments under new names.
    pipeline.wait_playlists(variants, lambda text: len(segments_after_discontinuity(text)) >= 2, timeout=15)
    assert pipeline.video_status(video_url) == "live"
    for entry in variants:
        playlist = pipeline.playlist(entry)
        # An EVENT playlist's segments are only ever appended to (RFC 8216 6.2.1): what players
        # already read stays (a low-latency playlist's parts and hint come and go below them).
        before = segment_uris(before_kill[entry.name])
        assert segment_uris(playlist)[: len(before)] == before, (before_kill[entry.name], playlist)
        assert playlist.count("#EXT-X-DISCONTINUITY") == 1, playlist
        segments = segment_uris(playlist)
        assert len(segments) == len(set(segments)), playlist
        folder = pipeline.variant_url(entry).rsplit("/", 1)[0]
        for name in segments_after_discontinuity(playlist):
            segment = http_get(f"{folder}/{name}")
            assert segment.status == 200, name
            assert segment.headers["content-type"] == SEGMENT_TYPE

    code, _ = publisher.wait(40)
    assert code == 0, publisher.stderr()  # the publisher never noticed
    pipeline.wait_playlists(variants, lambda text: text.rstrip().endswith(ENDLIST), timeout=15)
    pipeline.wait_status(video_url, "ended")
    assert transcoder_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url) == []


def test_sigterm_to_the_ingest_ends_the_playlists_and_leaves_no_ffmpeg(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    small_ladder: None,
) -> None:
    streamer = make_streamer("cutoff")
    publisher = pipeline.publish(streamer, seconds=60, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("cutoff")
    variants = pipeline.wait_master(video_url)
    pipeline.wait_playlists(variants, lambda text: len(segment_uris(text)) >= 1, timeout=15)
    assert len(transcoder_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)) == 1

    pipeline.ingest.terminate()
    assert pipeline.ingest.wait(30) == 0, pipeline.logs()
    assert processes_mentioning(video_url) == []
    for entry in variants:
        assert pipeline.playlist(entry).rstrip().endswith(ENDLIST), entry.uri
    pipeline.wait_status(video_url, "ended")
    publisher.wait(10)  # the publisher was disconnected


def test_sigterm_to_the_whole_stack_stops_every_stream_and_leaves_no_ffmpeg(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    streamers = [make_streamer("first"), make_streamer("second")]
    for streamer in streamers:
        publishers.append(pipeline.publish(streamer, seconds=60, size="640x360"))
    video_urls = [pipeline.wait_live_video(str(streamer.channel.name)) for streamer in streamers]  # type: ignore[attr-defined]
    for video_url in video_urls:
        pipeline.wait_master(video_url)
        assert len(transcoder_pids(ingest_pid=pipeline.ingest.pid, video_url=video_url)) == 1

    pipeline.ingest.terminate()
    pipeline.hls.terminate()
    assert pipeline.ingest.wait(30) == 0, pipeline.logs()
    assert pipeline.hls.wait(15) == 0, pipeline.logs()
    assert processes_mentioning(str(pipeline.hls_root)) == []
    for video_url in video_urls:
        playlists = sorted((pipeline.hls_root / video_url).glob("*/index.m3u8"))
        assert playlists, video_url
        for path in playlists:
            assert path.read_text().rstrip().endswith(ENDLIST), path
        pipeline.wait_status(video_url, "ended")


def test_480p_source_gets_no_720p_rendition(
    pipeline: Pipeline, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    streamer = make_streamer("standard")
    publishers.append(pipeline.publish(streamer, seconds=6, size="854x480"))
    video_url = pipeline.wait_live_video("standard")
    variants = pipeline.wait_master(video_url)
    assert resolutions(variants) == {"source": (854, 480), "360p": (640, 360)}
    for rendition in ("720p", "480p"):
        assert http_get(f"{pipeline.hls_url}{video_url}/{rendition}/index.m3u8").status == 404
        assert not (pipeline.hls_root / video_url / rendition).exists()


TRAVERSALS = (
    "/hls-live/../secret.m3u8",
    "/hls-live/abcdefghijklmnop/../../secret.m3u8",
    "/hls-live/abcdefghijklmnop/source/../../../secret.m3u8",
    "/../secret.m3u8",
    "/hls-live/%2e%2e/secret.m3u8",
    "/hls-live/%2E%2E/secret.m3u8",
    "/hls-live/.%2e/secret.m3u8",
    "/hls-live/..%2fsecret.m3u8",
    "/hls-live/..%2Fsecret.m3u8",
    "/hls-live/%2e%2e%2fsecret.m3u8",
    "/hls-live/abcdefghijklmnop%2f..%2f..%2fsecret.m3u8",
    "/hls-live/..%5csecret.m3u8",
    "/hls-live/..%5Csecret.m3u8",
    "/hls-live/..\\secret.m3u8",
    "/hls-live/%252e%252e/secret.m3u8",
    "/hls-live/%252e%252e%252fsecret.m3u8",
    "/hls-live/..%252fsecret.m3u8",
    "/hls-live/..%255csecret.m3u8",
    "/hls-live/%c0%ae%c0%ae/secret.m3u8",
    "/hls-live/%2fetc%2fpasswd",
    "/hls-live//etc/passwd",
    "/hls-live/abcdefghijklmnop.m3u8%00.ts",
)


def test_traversal_on_the_hls_port_is_refused(
    hls_root: Path, tmp_path: Path, start_service: Callable[..., Service]
) -> None:
    secret = b"#EXTM3U\n# outside the HLS root\n"
    (tmp_path / "secret.m3u8").write_bytes(secret)
    (hls_root / "abcdefghijklmnop.m3u8").write_text("#EXTM3U\n")
    (hls_root / "abcdefghijklmnop" / "source").mkdir(parents=True)
    (hls_root / "abcdefghijklmnop" / "source" / "notes.txt").write_bytes(secret)
    (hls_root / "qrstuvwxyz012345.m3u8").symlink_to(tmp_path / "secret.m3u8")
    port = free_port()
    start_service(
        module="hls_out",
        port=port,
        env=hls_environment(port=port, api_base_url="http://127.0.0.1:9", secret="", hls_root=hls_root),
        log=tmp_path / "hls_out.log",
    )

    assert raw_http_status(port, "/hls-live/abcdefghijklmnop.m3u8") == (200, b"#EXTM3U\n")
    absolute = str(tmp_path / "secret.m3u8")
    for target in (
        *TRAVERSALS,
        f"/hls-live/{absolute}",
        f"/hls-live/{absolute.replace('/', '%2f')}",
        "/hls-live/qrstuvwxyz012345.m3u8",  # a symlink out of the root
        "/hls-live/abcdefghijklmnop/source/notes.txt",  # not a playlist or a segment
    ):
        status, body = raw_http_status(port, target)
        assert status in (400, 404), (target, status)
        assert b"outside the HLS root" not in body, target


def test_low_latency_playlists_keep_the_rules_live_and_as_a_recording(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    small_ladder: None,
) -> None:
    published_seconds = 12
    streamer = make_streamer("lowlatency")
    started = time.monotonic()
    publisher = pipeline.publish(streamer, seconds=published_seconds, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("lowlatency")
    variants = pipeline.wait_master(video_url)
    first_playlist = time.monotonic() - started
    assert resolutions(variants) == {"source": (640, 360), "240p": (426, 240)}
    for entry in variants:
        assert {"BANDWIDTH", "CODECS", "RESOLUTION"} <= set(entry.attributes), entry
    assert first_playlist < 3.0, first_playlist  # the bench measures it; here only that nothing waits long

    # Every live playlist seen over some seconds keeps the rules, on every rendition.
    pipeline.wait_playlists(variants, lambda text: len(segment_uris(text)) >= 2, timeout=15)
    live: dict[str, object] = {}
    for _ in range(12):
        for entry in variants:
            live[entry.name] = check_live(pipeline.playlist(entry))
        time.sleep(0.3)
    check_aligned(live)  # type: ignore[arg-type]

    # A blocking reload for the next part is answered once it exists, well within a second.
    entry = variants[0]
    state = playlist_state(pipeline.playlist(entry))
    asked = time.monotonic()
    held = http_get(f"{pipeline.variant_url(entry)}?_HLS_msn={state.last_msn + 1}&_HLS_part={state.parts}")
    waited = time.monotonic() - asked
    assert held.status == 200
    assert playlist_state(held.text).has(state.last_msn + 1, state.parts), held.text
    check_live(held.text)
    assert waited < 1.0, waited
    # The hinted part, asked for before it exists, comes whole once it does.
    hint = playlist_state(held.text).preload_hint
    folder = pipeline.variant_url(entry).rsplit("/", 1)[0]
    part = http_get(f"{folder}/{hint}")
    assert part.status == 200
    assert part.headers["content-type"] == SEGMENT_TYPE
    assert part.body[4:8] == b"moof"
    far = http_get(f"{pipeline.variant_url(entry)}?_HLS_msn={state.last_msn + 4}")
    assert far.status == 400

    code, _ = publisher.wait(published_seconds + 30)
    assert code == 0, publisher.stderr()
    pipeline.wait_playlists(variants, lambda text: text.rstrip().endswith(ENDLIST), timeout=15)
    recordings = {entry.name: check_vod(pipeline.playlist(entry)) for entry in variants}
    check_aligned(recordings)  # type: ignore[arg-type]
    counts = {name: len(playlist.segments) for name, playlist in recordings.items()}
    assert len(set(counts.values())) == 1, counts
    for entry in variants:
        duration = probe_duration(pipeline.variant_url(entry))
        assert abs(duration - published_seconds) <= SEGMENT_SECONDS, (entry.name, duration)
    assert not list(pipeline.hls_root.glob(f"{video_url}/*/part_*.m4s"))  # parts go with the live edge
