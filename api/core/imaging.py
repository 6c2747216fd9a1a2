"""Fast, metadata-free resizing of uploaded pictures (profile pictures, video thumbnails).

Speed comes from never decoding more pixels than needed: a JPEG is decoded by libjpeg at 1/2, 1/4
or 1/8 scale (`draft()`), and `reducing_gap` lets Pillow shrink by whole factors before the final
Lanczos pass. EXIF orientation is applied, and every output is written without metadata.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps

from api.core.images import ALLOWED_FORMATS

OUTPUT_FORMAT = "WEBP"
OUTPUT_EXTENSION = "webp"
OUTPUT_QUALITY = 82
# Decode at least this many times the target size, so the final Lanczos pass has detail to work with.
DECODE_HEADROOM = 2.0
REDUCING_GAP = 2.0
_ENCODER_OPTIONS: dict[str, dict[str, object]] = {
    "WEBP": {"quality": OUTPUT_QUALITY, "method": 4},
    "JPEG": {"quality": 90},
    "PNG": {},
}
# What an uploaded original is stored as once cleaned (clean_original), and its file extension.
_CLEAN_FORMATS = {"JPEG": "JPEG", "WEBP": "WEBP", "PNG": "PNG", "GIF": "PNG"}
_EXTENSIONS = {"JPEG": "jpg", "WEBP": "webp", "PNG": "png"}
# EXIF orientations that swap width and height (rotations by 90 or 270 degrees).
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class ImageDecodeError(Exception):
    """The stored image cannot be decoded: retrying will not help. Deliberately not an OSError."""


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    data: bytes


def _open(data: bytes) -> Image.Image:
    max_pixels = settings.IMAGE_UPLOAD_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError("The image is too large to decode safely.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError("Not a supported image.") from exc
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        image.close()
        raise ImageDecodeError(f"The image is {width}x{height}, above the pixel limit.")
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    orientation = image.getexif().get(_EXIF_ORIENTATION)
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def _decode(image: Image.Image, *, scale: float) -> Image.Image:
    """Decode (scaled down by up to `scale` for JPEG), upright, in RGB or RGBA."""
    if image.format == "JPEG" and scale < 1:
        factor = min(1.0, scale * DECODE_HEADROOM)
        requested = (max(1, math.ceil(image.width * factor)), max(1, math.ceil(image.height * factor)))
        image.draft("RGB" if image.mode == "RGB" else None, requested)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError("The image is damaged or truncated.") from exc
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    return upright.convert("RGBA" if has_alpha else "RGB")


def _encode(image: Image.Image, image_format: str = OUTPUT_FORMAT) -> Rendition:
    image.info.clear()  # no EXIF, ICC, XMP or comments leave with the picture
    buffer = io.BytesIO()
    image.save(buffer, image_format, **_ENCODER_OPTIONS[image_format])
    return Rendition(width=image.width, height=image.height, data=buffer.getvalue())


def clean_original(data: bytes) -> tuple[Rendition, str]:
    """The whole picture re-encoded upright and without metadata (EXIF and its GPS position, XMP,
    comments), and the file extension of its format: JPEG stays JPEG, WebP stays WebP, PNG and GIF
    (its first frame) become PNG. Every pixel is decoded: a job for the worker, not the request."""
    with _open(data) as image:
        source_format = image.format or ""
        upright = _decode(image, scale=1.0)
    output_format = _CLEAN_FORMATS.get(source_format, "PNG")
    if output_format == "JPEG" and upright.mode != "RGB":
        upright = upright.convert("RGB")
    return _encode(upright, output_format), _EXTENSIONS[output_format]


def square_renditions(data: bytes, *, sizes: Sequence[int]) -> dict[int, Rendition]:
    """Centre-crop to a square and scale to each size (largest first, each from the previous)."""
    ordered = sorted(set(sizes), reverse=True)
    with _open(data) as image:
        short_side = min(_oriented_size(image))
        source = _decode(image, scale=ordered[0] / short_side)
    side = min(source.size)
    left, top = (source.width - side) / 2, (source.height - side) / 2
    box: tuple[float, float, float, float] = (left, top, left + side, top + side)
    renditions: dict[int, Rendition] = {}
    for size in ordered:
        source = source.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)
        box = (0, 0, size, size)
        renditions[size] = _encode(source.copy())
    return renditions


def fit_renditions(data: bytes, *, boxes: Sequence[tuple[int, int]]) -> list[Rendition]:
    """Scale (never up) to fit inside each (max width, max height) box, keeping the aspect ratio."""
    with _open(data) as image:
        width, height = _oriented_size(image)
        scales = [min(1.0, box_w / width, box_h / height) for box_w, box_h in boxes]
        source = _decode(image, scale=max(scales))
    renditions = []
    for scale in scales:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = source.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        renditions.append(_encode(resized))
    return renditions
