from __future__ import annotations

from transcoder.progress import ProgressParser

BLOCK = """frame={frame}
fps=0.00
stream_0_2_q=28.0
bitrate=N/A
total_size=N/A
out_time_us={us}
out_time_ms={us}
out_time=00:00:01.000000
dup_frames=0
drop_frames=2
speed={speed}x
progress=continue"""


def feed(parser: ProgressParser, frame: int, us: int, speed: str) -> None:
    for line in BLOCK.format(frame=frame, us=us, speed=speed).splitlines():
        assert parser.feed(line)


def test_progress_blocks_become_stats() -> None:
    parser = ProgressParser()
    feed(parser, 30, 1_000_000, " 1.01")
    feed(parser, 90, 3_000_000, "0.98")
    assert parser.stats() == {
        "transcoder_speed": 0.98,
        "out_time_seconds": 3.0,
        "frames": 90.0,
        "fps": 30.0,
        "drop_frames": 2.0,
    }


def test_log_lines_are_not_progress_and_half_blocks_do_not_count() -> None:
    parser = ProgressParser()
    assert not parser.feed("[hls @ 0x1] Opening 'x.ts' for writing")
    assert not parser.feed("Error while decoding stream #0:0: bitrate=3")
    assert parser.feed("frame=10")
    assert parser.stats() == {}
