"""Profile pictures per second: a 12-megapixel JPEG to 64, 128 and 256 pixel squares.

Ours (JPEG draft decoding + reducing_gap, api.core.imaging) side by side with a naive
`Image.open().resize()` per size, both encoding WebP, in the same run.

    .venv/bin/python bench/bench_avatars.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.test")

import django

django.setup()

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from api.core.imaging import square_renditions  # noqa: E402

SIZES = (64, 128, 256)
WIDTH, HEIGHT = 4000, 3000  # 12 megapixels, a phone camera's 4:3


def photo_like_jpeg() -> bytes:
    """A 12 MP JPEG with gradients, shapes and noise, so it compresses like a photograph."""
    image = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(60):
        x, y = (i * 613) % WIDTH, (i * 379) % HEIGHT
        draw.ellipse((x, y, x + 400, y + 300), fill=((i * 40) % 256, (i * 90) % 256, (i * 150) % 256))
    noise = Image.effect_noise((WIDTH, HEIGHT), 40).convert("RGB")
    image = Image.blend(image, noise, 0.25).filter(ImageFilter.SMOOTH)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def naive(data: bytes) -> None:
    """One full decode, then Pillow's default resize to each size."""
    with Image.open(io.BytesIO(data)) as image:
        for size in SIZES:
            image.resize((size, size)).save(io.BytesIO(), "WEBP")


def ours(data: bytes) -> None:
    square_renditions(data, sizes=SIZES)


def images_per_second(function: Callable[[bytes], None], data: bytes, seconds: float) -> float:
    function(data)  # warm-up
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or count < 3:
        function(data)
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time spent on each method")
    args = parser.parse_args()
    data = photo_like_jpeg()
    print(f"source: {WIDTH}x{HEIGHT} JPEG, {len(data) / 1e6:.1f} MB; sizes {SIZES}; one core")
    naive_rate = images_per_second(naive, data, args.seconds)
    ours_rate = images_per_second(ours, data, args.seconds)
    print(f"naive Image.open().resize(): {naive_rate:7.2f} images/s")
    print(f"ours (draft + reducing_gap): {ours_rate:7.2f} images/s")
    print(f"ratio: {ours_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
