"""What the transcoder reads inside FLV tag bodies: the AVC/AAC packet headers, and an SPS parser
for the picture size, profile, level and frame rate. Tags themselves are `tidecast_common.flv`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidecast_common.flv import CODEC_AVC, SOUND_AAC, FlvError

AVC_SEQUENCE_HEADER = 0
AAC_SEQUENCE_HEADER = 0
FRAME_KEY = 1
SOUND_FORMATS = {0: "pcm", 2: "mp3", 10: "aac", 11: "speex"}
VIDEO_CODECS = {2: "h263", 7: "h264", 12: "hevc"}


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
