"""Validation of uploaded images: decoded with a format allow-list, never trusted by name or type."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from api.core.errors import DomainError

# Pillow is asked to open only these decoders; EPS, PSD, FITS and the rest never run.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


class InvalidImage(DomainError):
    code = "invalid_image"


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def validate_image_upload(
    upload: IO[bytes],
    *,
    size: int,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> ImageInfo:
    """Refuse anything but a complete JPEG, PNG, WebP or GIF within the size and pixel caps.

    The pixel count is checked from the header before any decoding, so a decompression bomb
    costs nothing. A JPEG is then decoded at 1/8 scale, and any other picture of at most
    IMAGE_REQUEST_DECODE_MAX_PIXELS in full, to catch truncated files; a larger one is only checked
    for its structure (PNG chunk checksums) here, and decoded by the worker.
    """
    max_bytes = max_bytes or settings.IMAGE_UPLOAD_MAX_BYTES
    max_pixels = max_pixels or settings.IMAGE_UPLOAD_MAX_PIXELS
    if size > max_bytes:
        raise InvalidImage(
            f"The image is larger than {max_bytes // (1024 * 1024)} MB.", code="image_too_large"
        )
    if size == 0:
        raise InvalidImage("The file is empty.")
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(upload, formats=ALLOWED_FORMATS)
            with image:
                width, height = image.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise InvalidImage(
                        f"The image is {width}x{height}; at most {max_pixels // 1_000_000} megapixels are accepted.",
                        code="image_too_many_pixels",
                    )
                image_format = image.format or ""
                if image_format == "JPEG":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    image.load()
                elif width * height <= settings.IMAGE_REQUEST_DECODE_MAX_PIXELS:
                    image.load()
                else:
                    image.verify()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("The image is too large to decode safely.", code="image_too_many_pixels") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            "Not a supported image: upload a JPEG, PNG, WebP or GIF.", code="unsupported_image"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage("The image is damaged or truncated.", code="damaged_image") from exc
    finally:
        upload.seek(0)
    return ImageInfo(format=image_format, width=width, height=height)
