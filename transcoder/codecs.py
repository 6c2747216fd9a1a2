"""What the transcoder reads inside FLV tag bodies: the AVC/AAC packet headers, an SPS parser for
the picture size, profile, level, chroma format, bit depth and frame rate, and the rule of which
H.264 a browser decodes. Tags themselves are `tidecast_common.flv`.
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


CHROMA_420 = 1
CHROMA_FORMATS = {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}
BASELINE, MAIN, HIGH = 66, 77, 100
# Browser H.264 decoders (MSE in Chromium, Firefox, Safari; hls.js relies on them) are built for
# these three profiles; the higher ones (High 10, 4:2:2, 4:4:4 Predictive) are refused or fail.
BROWSER_PROFILES = (BASELINE, MAIN, HIGH)


@dataclass(frozen=True, slots=True)
class SpsInfo:
    width: int
    height: int
    profile_idc: int
    constraint_flags: int
    level_idc: int
    fps: float | None
    # 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4; only the High family of profiles can say other than 1.
    chroma_format_idc: int = CHROMA_420
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8

    @property
    def codec_tag(self) -> str:
        """The RFC 6381 string for CODECS=, e.g. avc1.64001f."""
        return f"avc1.{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"

    @property
    def summary(self) -> str:
        """For logs: "profile 244, 4:4:4, 10-bit"."""
        chroma = CHROMA_FORMATS.get(self.chroma_format_idc, str(self.chroma_format_idc))
        luma, chroma_bits = self.bit_depth_luma, self.bit_depth_chroma
        depth = str(luma) if luma == chroma_bits else f"{luma}/{chroma_bits}"
        return f"profile {self.profile_idc}, {chroma}, {depth}-bit"


def browser_decodable(sps: SpsInfo) -> bool:
    """Whether browsers play this H.264 as it is: Baseline, Main or High, 8-bit 4:2:0.

    The constraint flags do not matter: each narrows a profile to a subset of itself (constrained
    Baseline, Progressive and Constrained High), never beyond what the three profiles decode. Nor
    does the level: it bounds the picture and macroblock rate a decoder must keep up with, which
    browsers treat as a question of speed, not of support, and the smaller renditions are there
    for slow devices.
    """
    return (
        sps.profile_idc in BROWSER_PROFILES
        and sps.chroma_format_idc == CHROMA_420
        and sps.bit_depth_luma == 8
        and sps.bit_depth_chroma == 8
    )


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


# The profiles whose SPS carries chroma_format_idc, the bit depths and scaling matrices (7.3.2.1.1).
HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def parse_sps(nal: bytes) -> SpsInfo:
    """Picture size (after cropping), profile, level, chroma format, bit depths and VUI frame rate
    of an H.264 SPS NAL unit."""
    if not nal or nal[0] & 0x1F != 7:
        raise FlvError("not an SPS NAL unit")
    reader = _BitReader(_unescape(nal[1:]))
    profile_idc = reader.bits(8)
    constraint_flags = reader.bits(8)
    level_idc = reader.bits(8)
    reader.ue()  # seq_parameter_set_id
    chroma_format_idc = CHROMA_420
    bit_depth_luma = bit_depth_chroma = 8
    separate_colour_plane = 0
    if profile_idc in HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc > 3:
            raise FlvError(f"invalid chroma_format_idc {chroma_format_idc} in SPS")
        if chroma_format_idc == 3:
            separate_colour_plane = reader.bit()
        bit_depth_luma = reader.ue() + 8
        bit_depth_chroma = reader.ue() + 8
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
    return SpsInfo(
        width=width,
        height=height,
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        fps=fps,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
    )


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
