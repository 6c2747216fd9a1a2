"""The rendition ladder as configured (`TRANSCODE_LADDER`), with its one validation.

The API validates the ladder when it starts (and refuses to start on a bad one), sends it to the
ingest with every publish grant, and the ingest checks it again with the same rules before the
transcoder turns it into this stream's renditions (`transcoder.ladder.build_ladder`).

Heights name the *short side* of the picture, so a portrait source gets a "720p" of 720x1280.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tidecast_common.layout import RENDITION_NAME_PATTERN, is_rendition_name

SOURCE_NAME = "source"
PROFILES = ("baseline", "main", "high")
MAX_HEIGHT = 4320
MAX_KBPS = 100_000


class LadderError(ValueError):
    """A ladder or a rung that breaks the rules."""


def _positive_int(data: Mapping[str, Any], key: str, maximum: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise LadderError(f"{key} must be a whole number")
    if not 0 < value <= maximum:
        raise LadderError(f"{key} must be between 1 and {maximum}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Variant:
    """One configured quality: `height` is the short side of the picture."""

    name: str
    height: int
    video_kbps: int
    audio_kbps: int
    profile: str = "main"

    def __post_init__(self) -> None:
        if not is_rendition_name(self.name):
            raise LadderError(f"rendition name {self.name!r} must match {RENDITION_NAME_PATTERN}")
        if self.name == SOURCE_NAME:
            raise LadderError(f"{SOURCE_NAME!r} is implied and cannot be configured")
        if not 2 <= self.height <= MAX_HEIGHT:
            raise LadderError(f"rendition {self.name!r}: height must be between 2 and {MAX_HEIGHT}")
        if not (0 < self.video_kbps <= MAX_KBPS and 0 < self.audio_kbps <= MAX_KBPS):
            raise LadderError(f"rendition {self.name!r} needs positive bitrates up to {MAX_KBPS} kbps")
        if self.profile not in PROFILES:
            raise LadderError(f"rendition {self.name!r}: profile must be one of {', '.join(PROFILES)}")

    @classmethod
    def from_mapping(cls, data: object) -> Variant:
        if not isinstance(data, Mapping):
            raise LadderError("each rendition must be an object")
        name = data.get("name")
        if not isinstance(name, str):
            raise LadderError("each rendition needs a name")
        profile = data.get("profile", "main")
        return cls(
            name=name,
            height=_positive_int(data, "height", MAX_HEIGHT),
            video_kbps=_positive_int(data, "video_kbps", MAX_KBPS),
            audio_kbps=_positive_int(data, "audio_kbps", MAX_KBPS),
            profile=profile if isinstance(profile, str) else "",
        )

    def to_mapping(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant("720p", 720, 2800, 128, "main"),
    Variant("480p", 480, 1400, 96, "main"),
    Variant("360p", 360, 800, 96, "baseline"),
)


def parse_variants(items: Iterable[object]) -> tuple[Variant, ...]:
    """A ladder from settings or the API's JSON; names must be unique."""
    if isinstance(items, str | bytes | Mapping):
        raise LadderError("the ladder must be a list of renditions")
    variants = tuple(item if isinstance(item, Variant) else Variant.from_mapping(item) for item in items)
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise LadderError(f"duplicate rendition names in {names}")
    return variants


def parse_ladder_json(text: str) -> tuple[Variant, ...]:
    """`TRANSCODE_LADDER` as written in the environment (empty: the default ladder)."""
    if not text.strip():
        return DEFAULT_VARIANTS
    try:
        items = json.loads(text)
    except ValueError as error:
        raise LadderError(f"TRANSCODE_LADDER is not JSON: {error}") from None
    if not isinstance(items, list):
        raise LadderError("TRANSCODE_LADDER must be a JSON list of renditions")
    return parse_variants(items)
