"""The HLS layout: one video url and rendition name -> every path on disk and every URL.

On disk, below the HLS root:

    <url>.m3u8                           master playlist
    <url>/<rendition>/index.m3u8         variant playlist (Low-Latency HLS while live)
    <url>/<rendition>/init.mp4           init segment (`init_<run>.mp4` after a transcoder restart)
    <url>/<rendition>/seg_00001.m4s      segment: its parts' fragments joined (fragmented MP4)
    <url>/<rendition>/part_000042.m4s    part 42 of the rendition (numbered across segments, so
                                         a preload hint names it before its segment is known)

Over HTTP the same names sit below `/hls-live/`, and the master's variant URIs are relative to it.
The transcoder writes this, the HLS server and the API read it, so it is spelled out nowhere else.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

# A video url: the public, unguessable stream name (36**16 ~ 2**82).
VIDEO_URL_ALPHABET = string.ascii_lowercase + string.digits
VIDEO_URL_LENGTH = 16
VIDEO_URL_PATTERN = f"[a-z0-9]{{{VIDEO_URL_LENGTH}}}"
# A rendition name: the folder of one quality ("source", "720p", ...).
RENDITION_NAME_PATTERN = "[a-z0-9][a-z0-9_-]{0,31}"
# A file in a rendition folder.
SEGMENT_NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
MEDIA_SEGMENT_SUFFIXES = (".ts", ".m4s")  # segments with frames (`.mp4` is an init segment)

URL_PREFIX = "/hls-live/"
PLAYLIST_SUFFIX = ".m3u8"
VARIANT_PLAYLIST = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"  # ffmpeg's -hls_segment_filename pattern (MPEG-TS recordings)
INIT_SEGMENT = "init.mp4"
_PART_NAME = re.compile(r"part_(\d{6,12})\.m4s")

_VIDEO_URL = re.compile(VIDEO_URL_PATTERN)
_RENDITION_NAME = re.compile(RENDITION_NAME_PATTERN)
# The request paths the HLS server may serve: a master, or a rendition's playlist or segment.
SERVABLE_PATH = re.compile(
    rf"{re.escape(URL_PREFIX)}(?:{VIDEO_URL_PATTERN}\.m3u8"
    rf"|{VIDEO_URL_PATTERN}/{RENDITION_NAME_PATTERN}/{SEGMENT_NAME_PATTERN}\.(?:m3u8|ts|m4s|mp4))"
)


def is_video_url(value: str) -> bool:
    return _VIDEO_URL.fullmatch(value) is not None


def is_rendition_name(value: str) -> bool:
    return _RENDITION_NAME.fullmatch(value) is not None


def new_video_url() -> str:
    return "".join(secrets.choice(VIDEO_URL_ALPHABET) for _ in range(VIDEO_URL_LENGTH))


def master_name(video_url: str) -> str:
    """The master playlist's name, below the HLS root and below `/hls-live/`."""
    return f"{video_url}{PLAYLIST_SUFFIX}"


def variant_uri(video_url: str, rendition: str) -> str:
    """A variant playlist as the master lists it (relative to the master)."""
    return f"{video_url}/{rendition}/{VARIANT_PLAYLIST}"


def segment_name(msn: int) -> str:
    """A low-latency rendition's segment `msn` (fragmented MP4)."""
    return f"seg_{msn:05d}.m4s"


def part_name(number: int) -> str:
    """A low-latency rendition's part `number` (from 0, across segments and restarts)."""
    return f"part_{number:06d}.m4s"


def parse_part_name(name: str) -> int | None:
    """The number of a part's file name, None for any other name."""
    found = _PART_NAME.fullmatch(name)
    return int(found[1]) if found else None


def init_name(run: int) -> str:
    """The init segment of transcoder run `run` (0: the first; a restart may change the codec setup)."""
    return INIT_SEGMENT if run == 0 else f"init_{run}.mp4"


def master_url(base_url: str, video_url: str) -> str:
    """The public URL of a video's master playlist, below `base_url` (PUBLIC_HLS_URL)."""
    return f"{base_url.rstrip('/')}/{master_name(video_url)}"


@dataclass(frozen=True, slots=True)
class HlsLayout:
    """The files of every video below one HLS root."""

    root: Path

    def master(self, video_url: str) -> Path:
        return self.root / master_name(video_url)

    def video_dir(self, video_url: str) -> Path:
        return self.root / video_url

    def rendition_dir(self, video_url: str, rendition: str) -> Path:
        return self.root / video_url / rendition

    def variant_playlist(self, video_url: str, rendition: str) -> Path:
        return self.rendition_dir(video_url, rendition) / VARIANT_PLAYLIST

    def segment_pattern(self, video_url: str, rendition: str) -> Path:
        return self.rendition_dir(video_url, rendition) / SEGMENT_PATTERN
