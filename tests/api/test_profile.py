"""GET/PATCH /api/user/profile and PUT /api/user/profile/picture, with the services the worker runs."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFile

from api.profiles.models import AvatarStatus, Profile
from api.profiles.services import (
    AvatarOutcome,
    avatar_file_prefix,
    avatar_upload_name,
    profile_avatar_render,
    profile_picture_upload,
)
from tests.workers import pictures

PROFILE = "/api/user/profile"
PICTURE = "/api/user/profile/picture"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """The served media root; the private upload storage sits beside it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.MEDIA_ROOT


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def upload(client, data: bytes, name: str = "picture.jpg", content_type: str = "image/jpeg"):
    return client.put(PICTURE, {"image": SimpleUploadedFile(name, data, content_type)}, format="multipart")


def test_profile_is_created_on_first_read(auth_client, user):
    response = auth_client.get(PROFILE)
    assert response.status_code == 200
    assert response.json() == {"username": user.username, "display_name": "", "bio": "", "avatar": None}
    assert Profile.objects.filter(user=user).count() == 1
    auth_client.get(PROFILE)
    assert Profile.objects.filter(user=user).count() == 1


def test_patch_updates_only_given_fields(auth_client):
    assert (
        auth_client.patch(PROFILE, {"display_name": "  Ada  "}, format="json").json()["display_name"] == "Ada"
    )
    body = auth_client.patch(PROFILE, {"bio": "Streams rivers."}, format="json").json()
    assert (body["display_name"], body["bio"]) == ("Ada", "Streams rivers.")


@pytest.mark.parametrize(
    "payload",
    [{"display_name": "x" * 51}, {"bio": "x" * 1001}, {"display_name": 12}, {"bio": None}],
)
def test_patch_rejects_bad_input(auth_client, payload):
    response = auth_client.patch(PROFILE, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_malformed_json_is_400(auth_client):
    response = auth_client.generic("PATCH", PROFILE, "{nope", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "patch"])
def test_profile_needs_authentication(api_client, method):
    assert getattr(api_client, method)(PROFILE).status_code == 401


@pytest.mark.django_db
def test_unauthenticated_upload_is_401_and_queues_nothing(
    api_client, django_capture_on_commit_callbacks, media_root
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api_client, pictures.solid())
    assert response.status_code == 401
    assert callbacks == []
    assert stored_files(media_root.parent) == []


def test_upload_is_accepted_and_queued_after_commit(
    auth_client, user, django_capture_on_commit_callbacks, media_root, settings
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(auth_client, pictures.solid("PNG"), name="evil.exe", content_type="text/plain")
    assert response.status_code == 202
    assert response.json() == {"status": "processing"}
    assert len(callbacks) == 1
    profile = Profile.objects.get(user=user)
    assert (profile.avatar_status, profile.avatar_version) == (AvatarStatus.PROCESSING, 1)
    # The upload waits for the worker in the private storage, under a name of the server's choosing;
    # nothing is public before the worker has cleaned it.
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) == [
        settings.PRIVATE_MEDIA_ROOT / avatar_upload_name(user_id=user.pk, version=1)
    ]
    assert stored_files(media_root) == []
    avatar = auth_client.get(PROFILE).json()["avatar"]
    assert avatar == {"status": "processing", "original": None, "sizes": {}}


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"hello, not an image", "unsupported_image"),
        (pictures.truncated_jpeg, "damaged_image"),
        (pictures.png_bomb, "image_too_many_pixels"),
        (pictures.eps, "unsupported_image"),
        (pictures.psd, "unsupported_image"),
        (pictures.fits, "unsupported_image"),
    ],
    ids=["text", "truncated-jpeg", "png-bomb", "eps", "psd", "fits"],
)
def test_bad_uploads_are_400_and_queue_nothing(
    auth_client, user, django_capture_on_commit_callbacks, media_root, make, code
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(auth_client, make())
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert callbacks == []
    assert stored_files(media_root.parent) == []
    assert not Profile.objects.filter(user=user).exclude(avatar_status="").exists()


def test_oversized_upload_is_400(auth_client, settings, django_capture_on_commit_callbacks, media_root):
    settings.IMAGE_UPLOAD_MAX_BYTES = 20_000
    data = pictures.encoded(Image.effect_noise((300, 300), 80).convert("RGB"), "PNG")
    assert len(data) > 20_000
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(auth_client, data)
    assert response.status_code == 400
    assert response.json()["code"] == "image_too_large"
    assert callbacks == []


def test_oversized_body_is_refused_before_parsing(auth_client, settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 1000
    response = upload(auth_client, b"\xff" * 200_000)
    assert response.status_code == 400
    assert response.json()["code"] == "image_too_large"


def test_missing_image_field_is_400(auth_client):
    response = auth_client.put(PICTURE, {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert "image" in response.json()["errors"]


def _upload(user, data: bytes) -> Profile:
    return profile_picture_upload(user=user, image=SimpleUploadedFile("p", data))


def test_render_writes_sizes_and_is_idempotent(auth_client, user, media_root):
    profile = _upload(user, pictures.solid(size=(640, 480)))
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.READY
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.ALREADY_DONE
    avatar = auth_client.get(PROFILE).json()["avatar"]
    assert avatar["status"] == "ready"
    assert sorted(avatar["sizes"], key=int) == ["64", "128", "256"]
    prefix = avatar_file_prefix(user_id=user.pk, version=1)
    for size, url in avatar["sizes"].items():
        assert url == f"http://testserver/media/{prefix}-{size}.webp"
        with Image.open(media_root / f"{prefix}-{size}.webp") as image:
            assert image.size == (int(size), int(size))
    assert avatar["original"] == f"http://testserver/media/{prefix}-original.jpg"


def test_newer_upload_supersedes_and_old_files_are_removed(user, media_root):
    profile = _upload(user, pictures.solid(color="red"))
    _upload(user, pictures.solid(color="blue"))
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.SUPERSEDED
    assert profile_avatar_render(profile_id=profile.pk, version=2) == AvatarOutcome.READY
    assert public_names(media_root, user.pk) == version_names(user.pk, 2)
    _upload(user, pictures.solid(color="green"))
    assert profile_avatar_render(profile_id=profile.pk, version=3) == AvatarOutcome.READY
    assert public_names(media_root, user.pk) == version_names(user.pk, 3)
    # The uploads of versions 1 to 3 are gone too: superseded, or made public.
    assert stored_files(media_root.parent / "private") == []


def public_names(media_root, user_id: int) -> list[str]:
    return sorted(path.name for path in (media_root / f"avatars/{user_id}").iterdir())


def version_names(user_id: int, version: int, original: str = "jpg") -> list[str]:
    prefix = avatar_file_prefix(user_id=user_id, version=version).rsplit("/", 1)[1]
    return sorted(
        f"{prefix}-{suffix}" for suffix in ("64.webp", "128.webp", "256.webp", f"original.{original}")
    )


def test_an_undecodable_original_is_marked_failed_with_a_reason(auth_client, user, media_root, settings):
    profile = _upload(user, pictures.solid())
    stored = settings.PRIVATE_MEDIA_ROOT / avatar_upload_name(user_id=user.pk, version=1)
    stored.write_bytes(pictures.truncated_jpeg())
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.FAILED
    avatar = auth_client.get(PROFILE).json()["avatar"]
    assert avatar["status"] == "failed"
    assert "damaged" in avatar["error"]
    assert not stored.exists()
    assert stored_files(media_root) == []


def test_render_of_an_unknown_profile_is_harmless(db):
    assert profile_avatar_render(profile_id=987654, version=1) == AvatarOutcome.MISSING


def test_the_public_original_keeps_no_metadata_and_its_name_cannot_be_guessed(
    auth_client, user, media_root, settings
):
    data = pictures.gps_jpeg()
    assert b"TestCamera" in data
    profile = _upload(user, data)
    # Until the worker is done, nothing of it is under the served media root.
    assert stored_files(media_root) == []
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.READY
    profile.refresh_from_db()
    name = profile.avatar_original.name
    assert name != f"avatars/{user.pk}/1-original.jpg"
    token = name.rsplit("/", 1)[1].removeprefix("1-").removesuffix("-original.jpg")
    assert len(token) >= 24
    with Image.open(media_root / name) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 480)
        assert not image.getexif()
    for path in stored_files(media_root.parent):
        assert b"TestCamera" not in path.read_bytes(), path
        assert b"Exif" not in path.read_bytes(), path
    # Another version, or another user, gets a token of its own.
    assert avatar_file_prefix(user_id=user.pk, version=2) != avatar_file_prefix(user_id=user.pk, version=1)
    assert token not in avatar_file_prefix(user_id=user.pk + 1, version=1)
    settings.SECRET_KEY = "another-secret-key-another-secret-key-0123456789"
    assert avatar_file_prefix(user_id=user.pk, version=1) != name.removesuffix("-original.jpg")


@pytest.mark.parametrize(
    ("image_format", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "png")]
)
def test_the_original_is_re_encoded_in_a_format_like_its_own(user, media_root, image_format, extension):
    profile = _upload(user, pictures.solid(image_format, size=(320, 200)))
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.READY
    profile.refresh_from_db()
    assert profile.avatar_original.name.endswith(f"-original.{extension}")
    with Image.open(media_root / profile.avatar_original.name) as image:
        assert image.size == (320, 200)


def test_a_large_png_is_decoded_by_the_worker_not_in_the_request(
    auth_client, user, media_root, settings, monkeypatch
):
    settings.IMAGE_REQUEST_DECODE_MAX_PIXELS = 1_000_000
    decoded: list[tuple[str | None, tuple[int, int]]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(image):
        decoded.append((image.format, image.size))
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    large = pictures.solid("PNG", size=(1600, 1000))
    assert upload(auth_client, large, name="big.png", content_type="image/png").status_code == 202
    assert decoded == []
    small = pictures.solid("PNG", size=(800, 600))
    assert upload(auth_client, small, name="small.png", content_type="image/png").status_code == 202
    assert decoded == [("PNG", (800, 600))]
    decoded.clear()
    profile = Profile.objects.get(user=user)
    assert profile_avatar_render(profile_id=profile.pk, version=2) == AvatarOutcome.READY
    assert ("PNG", (800, 600)) in decoded


def test_a_truncated_large_png_is_still_refused_in_the_request(auth_client, settings, media_root):
    settings.IMAGE_REQUEST_DECODE_MAX_PIXELS = 1_000_000
    data = pictures.encoded(Image.effect_noise((1600, 1000), 60).convert("RGB"), "PNG")
    response = upload(auth_client, data[: len(data) // 2], name="big.png", content_type="image/png")
    assert response.status_code == 400
    assert response.json()["code"] == "damaged_image"
    assert stored_files(media_root.parent) == []
