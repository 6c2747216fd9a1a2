"""The rows a cut upload is processed as, without I/O: one per piece making every rendition, and
the first piece's lowest rendition alone, first."""

from __future__ import annotations

from api.uploads.models import Upload
from api.uploads.processing import _piece_rows
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder import vod

PROBE = vod.Probe(
    width=1920, height=1080, fps=30.0, duration=150.0, video_codec="h264", video_profile="High",
    pix_fmt="yuv420p", rotation=0, has_audio=True, audio_codec="aac", video_kbps=6000, format_name="mp4",
)  # fmt: skip
PIECES = [vod.Piece(0, 0.0, 10.0), vod.Piece(1, 10.0, 70.0), vod.Piece(2, 70.0, 150.0)]


def rows(renditions):
    made = _piece_rows(Upload(), pieces=PIECES, renditions=renditions)
    return [(row.index, row.quick, row.renditions, row.priority) for row in made]


def test_the_first_pieces_lowest_rendition_is_queued_first_and_never_made_twice():
    renditions = vod.renditions_for(PROBE, variants=DEFAULT_VARIANTS, segment_seconds=2)
    names = [r.name for r in renditions]
    assert names[0] == "360p"
    assert rows(renditions) == [
        (0, True, ["360p"], 0),
        (0, False, names[1:], 1),
        (1, False, names, 2),
        (2, False, names, 3),
    ]
    made = [(index, name) for index, _, wanted, _ in rows(renditions) for name in wanted]
    assert sorted(made) == sorted((piece.index, name) for piece in PIECES for name in names)


def test_a_single_rendition_has_no_empty_row():
    (only,) = vod.renditions_for(PROBE, variants=(), segment_seconds=2)
    assert rows((only,)) == [
        (0, True, [only.name], 0),
        (1, False, [only.name], 2),
        (2, False, [only.name], 3),
    ]
