"""The ffmpeg command transcoding one piece of an upload into several renditions at once, as a
pure function (made with ffmpeg-python, like the live command).

The piece is decoded once; the picture is turned upright, then scaled down rendition by rendition
(each from the one above it, `split` between them, as the live transcoder does) and every
rendition is written as HLS to a folder of its own: `<output_dir>/<rendition>/piece.m3u8` and
segments `seg_p<piece>_<n>.ts`, names fixed per piece and rendition so a redone piece rewrites the
same files. A copied rendition (`source` when browsers decode it) takes the input's H.264 as is.
ffmpeg cannot share one encoded stream between outputs, so the audio is encoded once per encoded
rendition (AAC costs a few per cent of a picture's encode); a copied rendition copies AAC.

`threads` bounds the decoder, the filter graph and every encoder: the parallelism of uploads comes
from pieces and worker processes, and x264's frame threads cost CPU for the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ffmpeg

from transcoder.command import scaling_chain
from transcoder.ladder import Rendition

PIECE_PLAYLIST = "piece.m3u8"
PIECE_SEGMENT = "seg_p{index:04d}_%05d.ts"
_ROTATE = {
    90: (("transpose", "clock"),),
    180: (("hflip", None), ("vflip", None)),
    270: (("transpose", "cclock"),),
}


def rendition_folder(output_dir: Path, rendition: str) -> Path:
    """Where one rendition of a piece is written (its playlist and segments)."""
    return output_dir / rendition


def piece_command(
    *,
    piece_file: Path,
    index: int,
    renditions: Sequence[Rendition],
    rotation: int,
    has_audio: bool,
    copy_audio: bool,
    output_dir: Path,
    segment_seconds: int,
    preset: str,
    threads: int,
    ffmpeg_binary: str = "ffmpeg",
) -> list[str]:
    """argv transcoding piece `index` into every rendition of `renditions` in one process."""
    if not renditions:
        raise ValueError("at least one rendition is needed")
    if len({r.name for r in renditions}) != len(renditions):
        raise ValueError("each rendition once")
    if threads < 1:
        raise ValueError("threads must be at least 1")
    source = ffmpeg.input(str(piece_file), threads=threads, noautorotate=None, copyts=None)
    scaled = _scaling_chain(source.video, [r for r in renditions if not r.copy_video], rotation=rotation)
    outputs: list[Any] = []
    for rendition in renditions:
        streams: list[Any] = [source.video if rendition.copy_video else scaled[rendition.name]]
        options = _video_options(rendition, segment_seconds=segment_seconds, preset=preset, threads=threads)
        if has_audio:
            streams.append(source.audio)
            if rendition.copy_video and copy_audio:
                options["c:a"] = "copy"
            else:
                options.update({"c:a": "aac", "b:a": f"{rendition.audio_kbps}k", "ac": 2})
        folder = rendition_folder(output_dir, rendition.name)
        options.update(
            {
                "fps_mode": "passthrough",
                "muxdelay": 0,
                "muxpreload": 0,
                "f": "hls",
                "hls_time": segment_seconds,
                "hls_list_size": 0,
                "hls_playlist_type": "vod",
                "hls_segment_type": "mpegts",
                "hls_segment_filename": str(folder / PIECE_SEGMENT.format(index=index)),
            }
        )
        outputs.append(ffmpeg.output(*streams, str(folder / PIECE_PLAYLIST), **options))
    command = ffmpeg.merge_outputs(*outputs).global_args(
        "-nostdin", "-hide_banner", "-loglevel", "error", "-filter_complex_threads", str(threads), "-y"
    )
    return list(command.compile(cmd=ffmpeg_binary))


def _scaling_chain(video: Any, encoded: Sequence[Rendition], *, rotation: int) -> dict[str, Any]:
    """Each encoded rendition's picture: upright, then scaled down the live command's chain."""
    for name, argument in _ROTATE.get(rotation, ()):
        video = video.filter(name, argument) if argument else video.filter(name)
    return scaling_chain(video, encoded)


def _video_options(
    rendition: Rendition, *, segment_seconds: int, preset: str, threads: int
) -> dict[str, Any]:
    if rendition.copy_video:
        return {"c:v": "copy"}
    return {
        "c:v": "libx264",
        "preset": preset,
        "threads": threads,
        "profile:v": rendition.profile,
        "level:v": rendition.level,
        "b:v": f"{rendition.video_kbps}k",
        "maxrate": f"{rendition.maxrate_kbps}k",
        "bufsize": f"{rendition.bufsize_kbps}k",
        "g": rendition.gop,
        "keyint_min": rendition.gop,
        "sc_threshold": 0,
        "force_key_frames": f"expr:gte(t,n_forced*{segment_seconds})",
    }
