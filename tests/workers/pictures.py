"""Image files for the upload tests: good ones of each format, and every kind of bad one."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import ExifTags, Image

EXIF_ORIENTATION = 0x0112


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def solid(image_format: str = "JPEG", *, size: tuple[int, int] = (300, 200), color: str = "red") -> bytes:
    return encoded(Image.new("RGB", size, color), image_format)


def halves_jpeg(*, size: tuple[int, int] = (400, 200), orientation: int | None = None) -> bytes:
    """Left half red, right half blue, optionally with an EXIF orientation tag."""
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    options: dict[str, object] = {"quality": 95}
    exif = Image.Exif()
    exif[0x010F] = "TestCamera"  # Make: metadata that must not survive
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    options["exif"] = exif.tobytes()
    return encoded(image, "JPEG", **options)


def gps_jpeg(*, size: tuple[int, int] = (640, 480), image_format: str = "JPEG") -> bytes:
    """A photo as a phone takes it: camera make, an orientation and the GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "TestCamera"
    exif[EXIF_ORIENTATION] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    return encoded(Image.new("RGB", size, "teal"), image_format, exif=exif.tobytes())


def truncated_jpeg() -> bytes:
    data = encoded(Image.effect_noise((400, 400), 60).convert("RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


@functools.cache
def png_bomb(side: int = 30000) -> bytes:
    """A real, complete `side`x`side` 1-bit PNG: ~110 kB that would decode to ~900 megapixels."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def eps() -> bytes:
    return encoded(Image.new("RGB", (16, 16), "green"), "EPS")


def psd(width: int = 8, height: int = 8) -> bytes:
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: empty
    return header + sections + struct.pack(">H", 0) + b"\x80" * (3 * width * height)


def fits(width: int = 8, height: int = 8) -> bytes:
    cards = ["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 2", f"NAXIS1  = {width}", f"NAXIS2  = {height}", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode("ascii")
    data = bytes(width * height)
    return header + data + bytes(2880 - len(data) % 2880)


def animated_gif() -> bytes:
    """Two frames: a red one, then a blue one. Only the first must be used."""
    frames = [Image.new("RGB", (120, 80), color) for color in ("red", "blue")]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
