"""The ladder's one validation, used by the API at start and by the ingest on every grant."""

from __future__ import annotations

import pytest

from tidecast_common.ladder import DEFAULT_VARIANTS, LadderError, Variant, parse_ladder_json, parse_variants


def test_the_default_ladder_round_trips_through_json_mappings() -> None:
    assert parse_variants([variant.to_mapping() for variant in DEFAULT_VARIANTS]) == DEFAULT_VARIANTS
    assert parse_ladder_json("") == DEFAULT_VARIANTS


def test_a_ladder_from_json() -> None:
    parsed = parse_ladder_json('[{"name": "540p", "height": 540, "video_kbps": 2000, "audio_kbps": 128}]')
    assert parsed == (Variant("540p", 540, 2000, 128, "main"),)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"name": "a", "height": 720, "video_kbps": 1, "audio_kbps": 1}] * 2, "duplicate"),
        ([{"name": "source", "height": 720, "video_kbps": 1, "audio_kbps": 1}], "implied"),
        ([{"name": "../x", "height": 720, "video_kbps": 1, "audio_kbps": 1}], "must match"),
        ([{"name": "x", "height": 720, "video_kbps": 1, "audio_kbps": 1, "profile": "extended"}], "profile"),
        ([{"name": "x", "height": 0, "video_kbps": 1, "audio_kbps": 1}], "height"),
        ([{"name": "x", "height": 720.5, "video_kbps": 1, "audio_kbps": 1}], "whole number"),
        ([{"name": "x", "height": True, "video_kbps": 1, "audio_kbps": 1}], "whole number"),
        ([{"name": "x", "height": 720, "video_kbps": -5, "audio_kbps": 1}], "video_kbps"),
        ([{"name": "x", "height": 720, "video_kbps": 1}], "audio_kbps"),
        ([{"height": 720, "video_kbps": 1, "audio_kbps": 1}], "name"),
        (["720p"], "object"),
        ("720p", "list"),
    ],
)
def test_every_rule_is_checked_with_a_reason(items: object, message: str) -> None:
    with pytest.raises(LadderError, match=message):
        parse_variants(items)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [("{", "not JSON"), ('{"a": 1}', "list")])
def test_json_that_is_not_a_ladder(text: str, message: str) -> None:
    with pytest.raises(LadderError, match=message):
        parse_ladder_json(text)
