"""Upload validation (api.core.images) and resizing (api.core.imaging), without I/O."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from api.core.images import InvalidImage, validate_image_upload
from api.core.imaging import ImageDecodeError, fit_renditions, square_renditions
from tests.workers import pictures


def validate(data: bytes, **caps: int):
    return validate_image_upload(io.BytesIO(data), size=len(data), **caps)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "GIF"])
def test_the_four_formats_are_accepted(image_format):
    info = validate(pictures.solid(image_format, size=(30, 20)))
    assert (info.format, info.width, info.height) == (image_format, 30, 20)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"just some text, not a picture\n" * 10, "unsupported_image"),
        (pictures.truncated_jpeg, "damaged_image"),
        (pictures.png_bomb, "image_too_many_pixels"),
        (pictures.eps, "unsupported_image"),
        (pictures.psd, "unsupported_image"),
        (pictures.fits, "unsupported_image"),
        (lambda: b"", "invalid_image"),
    ],
    ids=["text", "truncated-jpeg", "png-bomb", "eps", "psd", "fits", "empty"],
)
def test_bad_files_are_refused(make, code):
    with pytest.raises(InvalidImage) as caught:
        validate(make())
    assert caught.value.code == code
    assert caught.value.status_code == 400


@pytest.mark.parametrize("make", [pictures.eps, pictures.psd, pictures.fits])
def test_refused_formats_are_ones_pillow_would_otherwise_open(make):
    # Proves the allow-list, not a parse failure, is what refuses them.
    assert Image.open(io.BytesIO(make())).format in {"EPS", "PSD", "FITS"}


def test_oversized_file_is_refused_before_decoding():
    data = pictures.solid("PNG")
    with pytest.raises(InvalidImage) as caught:
        validate_image_upload(io.BytesIO(data), size=10 * 1024 * 1024 + 1)
    assert caught.value.code == "image_too_large"


def test_pixel_cap_below_pillows_own_bomb_limit():
    data = pictures.solid("PNG", size=(1000, 1000))
    with pytest.raises(InvalidImage) as caught:
        validate(data, max_pixels=999_999)
    assert caught.value.code == "image_too_many_pixels"
    assert validate(data, max_pixels=1_000_000).width == 1000


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("source_size", [(4000, 3000), (90, 300), (40, 40)])
def test_square_renditions_have_exact_sizes(source_size):
    renditions = square_renditions(pictures.solid("JPEG", size=source_size), sizes=(64, 128, 256))
    assert sorted(renditions) == [64, 128, 256]
    for size, rendition in renditions.items():
        image = _decode(rendition.data)
        assert image.format == "WEBP"
        assert image.size == (size, size) == (rendition.width, rendition.height)


def test_exif_orientation_is_applied_and_metadata_stripped():
    # Stored 400x200, left red / right blue; orientation 6 displays it rotated: red on top.
    renditions = square_renditions(pictures.halves_jpeg(orientation=6), sizes=(256,))
    image = _decode(renditions[256].data).convert("RGB")
    red, blue = image.getpixel((200, 30)), image.getpixel((56, 226))
    assert red[0] > 200, red
    assert red[2] < 60, red
    assert blue[2] > 200, blue
    assert blue[0] < 60, blue
    assert not image.getexif()
    assert "exif" not in image.info
    assert "icc_profile" not in image.info


def test_without_orientation_the_centre_square_is_cropped():
    renditions = square_renditions(pictures.halves_jpeg(), sizes=(64,))
    image = _decode(renditions[64].data).convert("RGB")
    assert image.getpixel((5, 32))[0] > 200  # red on the left
    assert image.getpixel((58, 32))[2] > 200  # blue on the right


def test_gif_uses_its_first_frame():
    image = _decode(square_renditions(pictures.animated_gif(), sizes=(64,))[64].data).convert("RGB")
    red, _, blue = image.getpixel((32, 32))
    assert red > 200
    assert blue < 60


def test_transparency_is_kept():
    data = pictures.encoded(Image.new("RGBA", (100, 100), (0, 255, 0, 0)), "PNG")
    image = _decode(square_renditions(data, sizes=(64,))[64].data)
    assert image.mode == "RGBA"
    assert image.getpixel((10, 10))[3] == 0


def test_fit_renditions_keep_the_aspect_and_never_upscale():
    large, small = fit_renditions(pictures.solid("JPEG", size=(1920, 1080)), boxes=((1280, 720), (320, 4096)))
    assert (large.width, large.height) == (1280, 720)
    assert (small.width, small.height) == (320, 180)
    tiny, _ = fit_renditions(pictures.solid("PNG", size=(200, 100)), boxes=((1280, 720), (320, 4096)))
    assert (tiny.width, tiny.height) == (200, 100)
    assert _decode(tiny.data).size == (200, 100)


@pytest.mark.parametrize("make", [pictures.truncated_jpeg, pictures.png_bomb, pictures.psd])
def test_the_worker_refuses_what_validation_refuses(make):
    with pytest.raises(ImageDecodeError):
        square_renditions(make(), sizes=(64,))
    assert not issubclass(ImageDecodeError, OSError)  # never retried as a storage error
