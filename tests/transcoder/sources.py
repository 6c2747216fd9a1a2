"""Sources as `source_info()` describes them, for the pure tests of the ladder and the command."""

from __future__ import annotations

from typing import Any

from transcoder.codecs import SpsInfo
from transcoder.ladder import SourceInfo


def h264_sps(width: int, height: int, *, bit_depth: int = 8, **fields: Any) -> SpsInfo:
    """An SPS as encoders write it; by default 8-bit 4:2:0 High at 30 fps, which browsers decode."""
    values: dict[str, Any] = {"profile_idc": 100, "constraint_flags": 0, "level_idc": 40, "fps": 30.0,
                              "bit_depth_luma": bit_depth, "bit_depth_chroma": bit_depth}  # fmt: skip
    return SpsInfo(width=width, height=height, **(values | fields))


def high_444_10bit_sps(width: int, height: int, *, fps: float | None = 30.0) -> SpsInfo:
    """What x264 writes for a 10-bit 4:4:4 picture (GStreamer's x264enc, ffmpeg -pix_fmt yuv444p10le):
    High 4:4:4 Predictive, CODECS avc1.f4001f, which browsers do not play."""
    return h264_sps(width, height, fps=fps, profile_idc=244, level_idc=31, chroma_format_idc=3, bit_depth=10)


def h264_source(
    width: int, height: int, fps: float = 30.0, *, sps: SpsInfo | None = None, **fields: Any
) -> SourceInfo:
    """An H.264 source with its SPS (by default one that browsers decode)."""
    return SourceInfo(
        width=width, height=height, fps=fps, video_sps=sps or h264_sps(width, height, fps=fps), **fields
    )


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        self.bits += [(value >> shift) & 1 for shift in range(count - 1, -1, -1)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.put(0, code.bit_length() - 1)
        self.put(code, code.bit_length())

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zeros to the byte
        bits += [0] * (-len(bits) % 8)
        raw = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        escaped = bytearray()
        for byte in raw:  # emulation prevention: no 00 00 0x (x <= 3) inside a NAL unit
            if len(escaped) >= 2 and escaped[-2:] == b"\x00\x00" and byte <= 3:
                escaped.append(3)
            escaped.append(byte)
        return bytes(escaped)


def baseline_sps_nal(width: int, height: int, *, fps: float | None, level_idc: int = 31) -> bytes:
    """A Constrained Baseline SPS NAL unit of an even `width` x `height`; VUI timing only with `fps`."""
    mbs_wide, mbs_high = -(-width // 16), -(-height // 16)
    writer = _BitWriter()
    writer.put(66, 8)
    writer.put(0xC0, 8)
    writer.put(level_idc, 8)
    for value in (0, 0, 2, 1):  # sps id, log2_max_frame_num - 4, pic_order_cnt_type 2, ref frames
        writer.ue(value)
    writer.put(0, 1)  # gaps_in_frame_num_value_allowed_flag
    writer.ue(mbs_wide - 1)
    writer.ue(mbs_high - 1)
    writer.put(1, 1)  # frame_mbs_only_flag
    writer.put(1, 1)  # direct_8x8_inference_flag
    crop_right, crop_bottom = (mbs_wide * 16 - width) // 2, (mbs_high * 16 - height) // 2
    writer.put(1 if crop_right or crop_bottom else 0, 1)
    if crop_right or crop_bottom:
        for value in (0, crop_right, 0, crop_bottom):
            writer.ue(value)
    writer.put(1 if fps else 0, 1)  # vui_parameters_present_flag
    if fps:
        writer.put(0, 4)  # no aspect ratio, overscan, video signal type, chroma location info
        writer.put(1, 1)  # timing_info_present_flag
        writer.put(1000, 32)  # num_units_in_tick
        writer.put(round(fps * 2000), 32)  # time_scale: two ticks a frame
        writer.put(1, 1)  # fixed_frame_rate_flag
        writer.put(0, 4)  # no NAL or VCL HRD, no pic_struct, no bitstream restriction
    return b"\x67" + writer.rbsp()


def avc_sequence_header(sps_nal: bytes) -> bytes:
    """The FLV video tag body of an AVC sequence header holding `sps_nal` (and no PPS)."""
    record = bytes([1, sps_nal[1], sps_nal[2], sps_nal[3], 0xFF, 0xE1]) + len(sps_nal).to_bytes(2, "big")
    return b"\x17\x00\x00\x00\x00" + record + sps_nal + b"\x00"
