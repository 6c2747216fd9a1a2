"""FLV: muxing the tags the ingest hands over, reading FLV files, and the codec headers inside.

Only what the live pipeline needs: the file header, tags with their PreviousTagSize, an AMF0
onMetaData script tag, the AVC/AAC packet headers, and an SPS parser for the picture size,
profile, level and frame rate.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18
CODEC_AVC = 7
SOUND_AAC = 10
AVC_SEQUENCE_HEADER = 0
AAC_SEQUENCE_HEADER = 0
FRAME_KEY = 1
HEADER_SIZE = 9
TAG_HEADER_SIZE = 11
MAX_TAG_DATA = 0xFFFFFF
SOUND_FORMATS = {0: "pcm", 2: "mp3", 10: "aac", 11: "speex"}
VIDEO_CODECS = {2: "h263", 7: "h264", 12: "hevc"}


class FlvError(ValueError):
    """Malformed FLV data."""


def file_header(*, has_audio: bool, has_video: bool) -> bytes:
    """The 9-byte FLV header followed by PreviousTagSize0."""
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return b"FLV\x01" + bytes([flags]) + struct.pack(">I", HEADER_SIZE) + b"\x00\x00\x00\x00"


def tag(tag_type: int, timestamp_ms: int, payload: bytes) -> bytes:
    """One tag: 11-byte header, body, PreviousTagSize. Timestamps wrap at 2**32 ms as FLV does."""
    if len(payload) > MAX_TAG_DATA:
        raise FlvError(f"tag body of {len(payload)} bytes exceeds the FLV limit")
    timestamp = timestamp_ms & 0xFFFFFFFF
    header = (
        bytes([tag_type])
        + len(payload).to_bytes(3, "big")
        + (timestamp & 0xFFFFFF).to_bytes(3, "big")
        + bytes([timestamp >> 24])
        + b"\x00\x00\x00"
    )
    return header + payload + struct.pack(">I", TAG_HEADER_SIZE + len(payload))


def metadata_tag(metadata: Mapping[str, object]) -> bytes:
    """An onMetaData script tag with the numbers, booleans and strings of `metadata`."""
    body = _amf_string_value("onMetaData") + b"\x08" + struct.pack(">I", len(metadata))
    for key, value in metadata.items():
        encoded = _amf_value(value)
        if encoded is not None:
            body += _amf_key(str(key)) + encoded
    body += b"\x00\x00\x09"
    return tag(TAG_SCRIPT, 0, body)


def _amf_key(key: str) -> bytes:
    raw = key.encode()[:0xFFFF]
    return struct.pack(">H", len(raw)) + raw


def _amf_string_value(value: str) -> bytes:
    return b"\x02" + _amf_key(value)


def _amf_value(value: object) -> bytes | None:
    if isinstance(value, bool):
        return b"\x01" + bytes([value])
    if isinstance(value, int | float) and math.isfinite(value):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        return _amf_string_value(value)
    return None


@dataclass(frozen=True, slots=True)
class FlvTag:
    tag_type: int
    timestamp_ms: int
    payload: bytes


def iter_tags(data: bytes) -> Iterator[FlvTag]:
    """The tags of a whole FLV file (used by tests and benchmarks to play a file into the pipeline)."""
    if len(data) < HEADER_SIZE + 4 or data[:3] != b"FLV":
        raise FlvError("not an FLV file")
    offset = int.from_bytes(data[5:9], "big") + 4
    while offset + TAG_HEADER_SIZE <= len(data):
        tag_type = data[offset] & 0x1F
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        timestamp = int.from_bytes(data[offset + 4 : offset + 7], "big") | (data[offset + 7] << 24)
        start = offset + TAG_HEADER_SIZE
        if start + size > len(data):
            raise FlvError("truncated tag")
        yield FlvTag(tag_type, timestamp, data[start : start + size])
        offset = start + size + 4


@dataclass(frozen=True, slots=True)
class VideoTagInfo:
    codec: str
    keyframe: bool
    sequence_header: bool


def video_tag_info(payload: bytes) -> VideoTagInfo:
    if not payload:
        raise FlvError("empty video tag")
    codec_id = payload[0] & 0x0F
    codec = VIDEO_CODECS.get(codec_id, f"flv-codec-{codec_id}")
    keyframe = payload[0] >> 4 == FRAME_KEY
    sequence_header = codec_id == CODEC_AVC and len(payload) > 1 and payload[1] == AVC_SEQUENCE_HEADER
    return VideoTagInfo(codec=codec, keyframe=keyframe, sequence_header=sequence_header)


@dataclass(frozen=True, slots=True)
class AudioTagInfo:
    codec: str
    sequence_header: bool


def audio_tag_info(payload: bytes) -> AudioTagInfo:
    if not payload:
        raise FlvError("empty audio tag")
    sound_format = payload[0] >> 4
    codec = SOUND_FORMATS.get(sound_format, f"flv-sound-{sound_format}")
    sequence_header = sound_format == SOUND_AAC and len(payload) > 1 and payload[1] == AAC_SEQUENCE_HEADER
    return AudioTagInfo(codec=codec, sequence_header=sequence_header)


@dataclass(frozen=True, slots=True)
class SpsInfo:
    width: int
    height: int
    profile_idc: int
    constraint_flags: int
    level_idc: int
    fps: float | None

    @property
    def codec_tag(self) -> str:
        """The RFC 6381 string for CODECS=, e.g. avc1.64001f."""
        return f"avc1.{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


def sps_from_avc_sequence_header(payload: bytes) -> bytes:
    """The first SPS NAL unit of an FLV AVC sequence header (an AVCDecoderConfigurationRecord)."""
    record = payload[5:]
    if len(record) < 8 or record[0] != 1:
        raise FlvError("not an AVCDecoderConfigurationRecord")
    if record[5] & 0x1F < 1:
        raise FlvError("no SPS in the AVC sequence header")
    length = int.from_bytes(record[6:8], "big")
    sps = record[8 : 8 + length]
    if len(sps) != length or not sps:
        raise FlvError("truncated SPS")
    return sps


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def bit(self) -> int:
        byte = self._position >> 3
        if byte >= len(self._data):
            raise FlvError("SPS ends early")
        value = (self._data[byte] >> (7 - (self._position & 7))) & 1
        self._position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise FlvError("invalid exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _unescape(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def parse_sps(nal: bytes) -> SpsInfo:
    """Picture size (after cropping), profile, level and VUI frame rate of an H.264 SPS NAL unit."""
    if not nal or nal[0] & 0x1F != 7:
        raise FlvError("not an SPS NAL unit")
    reader = _BitReader(_unescape(nal[1:]))
    profile_idc = reader.bits(8)
    constraint_flags = reader.bits(8)
    level_idc = reader.bits(8)
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = reader.bit()
        reader.ue()  # bit_depth_luma_minus8
        reader.ue()  # bit_depth_chroma_minus8
        reader.bit()  # qpprime_y_zero_transform_bypass_flag
        if reader.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if reader.bit():
                    _skip_scaling_list(reader, 16 if index < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = reader.ue()
    if pic_order_cnt_type == 0:
        reader.ue()
    elif pic_order_cnt_type == 1:
        reader.bit()
        reader.se()
        reader.se()
        for _ in range(reader.ue()):
            reader.se()
    reader.ue()  # max_num_ref_frames
    reader.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = reader.ue() + 1
    height_map_units = reader.ue() + 1
    frame_mbs_only = reader.bit()
    if not frame_mbs_only:
        reader.bit()  # mb_adaptive_frame_field_flag
    reader.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = height_map_units * 16 * (2 - frame_mbs_only)
    if reader.bit():  # frame_cropping_flag
        left, right, top, bottom = reader.ue(), reader.ue(), reader.ue(), reader.ue()
        chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
        crop_x = 1 if chroma_array_type == 0 else (2 if chroma_format_idc in (1, 2) else 1)
        crop_y = (1 if chroma_array_type == 0 else (2 if chroma_format_idc == 1 else 1)) * (
            2 - frame_mbs_only
        )
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    fps = _vui_fps(reader) if reader.bit() else None
    return SpsInfo(width, height, profile_idc, constraint_flags, level_idc, fps)


def _skip_scaling_list(reader: _BitReader, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + reader.se() + 256) % 256
        last = following or last


def _vui_fps(reader: _BitReader) -> float | None:
    try:
        # aspect_ratio_info_present_flag, then Extended_SAR carries an explicit ratio
        if reader.bit() and reader.bits(8) == 255:
            reader.bits(32)
        if reader.bit():  # overscan_info_present_flag
            reader.bit()
        if reader.bit():  # video_signal_type_present_flag
            reader.bits(4)
            if reader.bit():
                reader.bits(24)
        if reader.bit():  # chroma_loc_info_present_flag
            reader.ue()
            reader.ue()
        if not reader.bit():  # timing_info_present_flag
            return None
        num_units_in_tick = reader.bits(32)
        time_scale = reader.bits(32)
    except FlvError:
        return None
    if not num_units_in_tick or not time_scale:
        return None
    return time_scale / (2 * num_units_in_tick)
