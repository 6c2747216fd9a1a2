"""The HLS layout: one video url and rendition name -> every path on disk and every URL.

On disk, below the HLS root:

    <url>.m3u8                           master playlist
    <url>/<rendition>/index.m3u8         variant playlist
    <url>/<rendition>/seg_00001.ts       segments (`.m4s` with an `init.mp4` for fragmented MP4)

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
SEGMENT_PATTERN = "seg_%05d.ts"  # ffmpeg's -hls_segment_filename pattern
INIT_SEGMENT = "init.mp4"

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
