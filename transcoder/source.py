"""What the publisher sends: its FLV tags as they come in, and its size, rate and codecs.

`LiveSource` sits between the ingest's tags and an ffmpeg stdin. It keeps what every (re)started
ffmpeg must read before the media (the metadata and the AVC/AAC sequence headers), tells which tag
is a keyframe to start on, and hands out the bytes for one ffmpeg run: a new run begins with an
FLV file header, the metadata and the sequence headers, at the next keyframe; tags before that are
dropped, as ffmpeg could not decode them. `source_info()` works out the source from the SPS, and
from the metadata what the SPS does not say.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidecast_common import flv
from tidecast_common.flv import FlvError
from transcoder import codecs
from transcoder.codecs import SpsInfo, parse_sps, sps_from_avc_sequence_header
from transcoder.ladder import DEFAULT_FPS, SourceInfo

# onMetaData codec ids: numbers from the FLV spec, or FourCC strings from newer encoders.
AUDIO_CODEC_IDS: dict[object, str] = {10: "aac", 2: "mp3", "mp4a": "aac", ".mp3": "mp3"}
VIDEO_CODEC_IDS: dict[object, str] = {7: "h264", "avc1": "h264", 12: "hevc", "hvc1": "hevc"}
MAX_FPS = 240.0


def _number(metadata: Mapping[str, object], *keys: str) -> float | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
            return float(value)
    return None


def _codec(metadata: Mapping[str, object], key: str, table: Mapping[object, str]) -> str | None:
    value = metadata.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return table.get(value) if value is not None else None


def audio_codec_tag(aac_sequence_header: bytes | None) -> str:
    """mp4a.40.<audio object type> from the AudioSpecificConfig; AAC-LC when it is not known."""
    if aac_sequence_header is not None and len(aac_sequence_header) > 2:
        object_type = aac_sequence_header[2] >> 3
        if object_type:
            return f"mp4a.40.{object_type}"
    return "mp4a.40.2"


def _readable_sps(avc_sequence_header: bytes | None) -> SpsInfo | None:
    """The SPS in the AVC sequence header; None without a header or when it cannot be read."""
    if avc_sequence_header is None:
        return None
    try:
        return parse_sps(sps_from_avc_sequence_header(avc_sequence_header))
    except FlvError:
        return None


def source_info(
    *,
    metadata: Mapping[str, object],
    avc_sequence_header: bytes | None,
    video_codec: str | None,
    audio_codec: str | None,
) -> SourceInfo | None:
    """The source's size, rate and codecs, or None while its picture size is still unknown.

    Size and frame rate come from the SPS, which describes the picture ffmpeg really decodes; the
    metadata (which encoders round, and publishers may set to anything) only fills in what the SPS
    lacks: the size when there is no readable SPS, the rate when the SPS has no timing info (it is
    optional) or an implausible one.
    """
    sps = _readable_sps(avc_sequence_header)
    if sps is not None:
        width, height = sps.width, sps.height
    else:
        meta_width, meta_height = _number(metadata, "width"), _number(metadata, "height")
        if meta_width is None or meta_height is None:
            return None
        width, height = round(meta_width), round(meta_height)
    sps_fps = sps.fps if sps is not None else None
    if sps_fps is not None and sps_fps > MAX_FPS:
        sps_fps = None  # variable-rate encoders state a clock tick (e.g. 90 kHz) there, not a rate
    fps = sps_fps or _number(metadata, "framerate", "fps") or DEFAULT_FPS
    video_kbps = _number(metadata, "videodatarate")
    audio_kbps = _number(metadata, "audiodatarate")
    return SourceInfo(
        width=width,
        height=height,
        fps=min(fps, MAX_FPS),
        video_codec=video_codec or _codec(metadata, "videocodecid", VIDEO_CODEC_IDS) or "h264",
        audio_codec=audio_codec or _codec(metadata, "audiocodecid", AUDIO_CODEC_IDS),
        video_kbps=round(video_kbps) if video_kbps else None,
        audio_kbps=round(audio_kbps) if audio_kbps else None,
        video_sps=sps,
    )


class LiveSource:
    """One publish's FLV tags: header caching, probing, and the bytes for each ffmpeg run."""

    def __init__(self) -> None:
        self._metadata: dict[str, object] = {}
        self._avc_header: bytes | None = None
        self._aac_header: bytes | None = None
        self._video_codec: str | None = None
        self._audio_codec: str | None = None
        self.info: SourceInfo | None = None  # set by probe()
        self._primed_run: int | None = None
        # Video bytes and time span seen, for the source's BANDWIDTH when the metadata has no bitrate.
        self._video_bytes = 0
        self._video_span_ms: tuple[int, int] | None = None

    def set_metadata(self, metadata: Mapping[str, object]) -> None:
        self._metadata = dict(metadata)

    def observe(self, tag_type: int, timestamp_ms: int, payload: bytes) -> bool:
        """Keep the headers a (re)start needs; True when this tag is a video keyframe to start on.

        Raises FlvError for a malformed tag."""
        if tag_type == flv.TAG_VIDEO:
            video = codecs.video_tag_info(payload)
            self._video_codec = self._video_codec or video.codec
            self._count_video(timestamp_ms, len(payload))
            if video.sequence_header:
                self._avc_header = payload
                return False
            return video.keyframe and (self._avc_header is not None or video.codec != "h264")
        if tag_type == flv.TAG_AUDIO:
            audio = codecs.audio_tag_info(payload)
            self._audio_codec = self._audio_codec or audio.codec
            if audio.sequence_header:
                self._aac_header = payload
        return False

    def probe(self) -> SourceInfo | None:
        """The source as known so far (kept in `info`), or None while its picture size is unknown."""
        self.info = source_info(
            metadata=self._metadata,
            avc_sequence_header=self._avc_header,
            video_codec=self._video_codec,
            audio_codec=self._audio_codec,
        )
        return self.info

    def bytes_for_run(
        self, run: int, *, tag_type: int, timestamp_ms: int, payload: bytes, keyframe: bool
    ) -> bytes | None:
        """What ffmpeg run number `run` reads for this tag; None while that run waits for a keyframe."""
        if self._primed_run == run:
            return flv.tag(tag_type, timestamp_ms, payload)
        if not keyframe:
            return None
        self._primed_run = run
        return self._priming_tags(timestamp_ms) + flv.tag(tag_type, timestamp_ms, payload)

    def run_lost(self) -> None:
        """A write did not reach ffmpeg: whatever runs next starts again from the headers."""
        self._primed_run = None

    def audio_codec_tag(self) -> str | None:
        """The CODECS= entry of the audio, None without audio."""
        if self.info is None or self.info.audio_codec is None:
            return None
        return audio_codec_tag(self._aac_header if self.info.audio_codec == "aac" else None)

    def measured_video_kbps(self) -> int | None:
        """The video bitrate over what arrived so far; None before a second of it."""
        if self._video_span_ms is None:
            return None
        span_ms = self._video_span_ms[1] - self._video_span_ms[0]
        return round(self._video_bytes * 8 / span_ms) if span_ms >= 1000 else None

    def _count_video(self, timestamp_ms: int, size: int) -> None:
        self._video_bytes += size
        first = self._video_span_ms[0] if self._video_span_ms else timestamp_ms
        self._video_span_ms = (first, max(first, timestamp_ms))

    def _priming_tags(self, timestamp_ms: int) -> bytes:
        has_audio = self.info is not None and self.info.audio_codec is not None
        data = flv.file_header(has_audio=has_audio, has_video=True) + flv.metadata_tag(self._metadata)
        if self._avc_header is not None:
            data += flv.tag(flv.TAG_VIDEO, timestamp_ms, self._avc_header)
        if self._aac_header is not None:
            data += flv.tag(flv.TAG_AUDIO, timestamp_ms, self._aac_header)
        return data
