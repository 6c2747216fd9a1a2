"""GET/PATCH /api/user/profile and PUT /api/user/profile/picture, with the services the worker runs."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from api.profiles.models import AvatarStatus, Profile
from api.profiles.services import (
    AvatarOutcome,
    profile_avatar_render,
    profile_picture_upload,
)
from tests.workers import pictures

PROFILE = "/api/user/profile"
PICTURE = "/api/user/profile/picture"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


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
    assert not any(media_root.rglob("*.*"))


def test_upload_is_accepted_and_queued_after_commit(
    auth_client, user, django_capture_on_commit_callbacks, media_root
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(auth_client, pictures.solid("PNG"), name="evil.exe", content_type="text/plain")
    assert response.status_code == 202
    assert response.json() == {"status": "processing"}
    assert len(callbacks) == 1
    profile = Profile.objects.get(user=user)
    assert (profile.avatar_status, profile.avatar_version) == (AvatarStatus.PROCESSING, 1)
    # The stored name comes from the decoded format, never from the client's file name.
    assert profile.avatar_original.name == f"avatars/{user.pk}/1-original.png"
    avatar = auth_client.get(PROFILE).json()["avatar"]
    assert avatar["status"] == "processing"
    assert avatar["original"].endswith(f"/avatars/{user.pk}/1-original.png")
    assert avatar["sizes"] == {}


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
    assert not any(media_root.rglob("*.*"))
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
    for size, url in avatar["sizes"].items():
        assert url.startswith("http://testserver/media/")
        with Image.open(media_root / f"avatars/{user.pk}/1-{size}.webp") as image:
            assert image.size == (int(size), int(size))


def test_newer_upload_supersedes_and_old_files_are_removed(user, media_root):
    profile = _upload(user, pictures.solid(color="red"))
    _upload(user, pictures.solid(color="blue"))
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.SUPERSEDED
    assert profile_avatar_render(profile_id=profile.pk, version=2) == AvatarOutcome.READY
    files = sorted(path.name for path in (media_root / f"avatars/{user.pk}").iterdir())
    assert files == ["2-128.webp", "2-256.webp", "2-64.webp", "2-original.jpg"]
    _upload(user, pictures.solid(color="green"))
    assert profile_avatar_render(profile_id=profile.pk, version=3) == AvatarOutcome.READY
    files = sorted(path.name for path in (media_root / f"avatars/{user.pk}").iterdir())
    assert files == ["3-128.webp", "3-256.webp", "3-64.webp", "3-original.jpg"]


def test_an_undecodable_original_is_marked_failed_with_a_reason(auth_client, user, media_root):
    profile = _upload(user, pictures.solid())
    (media_root / profile.avatar_original.name).write_bytes(pictures.truncated_jpeg())
    assert profile_avatar_render(profile_id=profile.pk, version=1) == AvatarOutcome.FAILED
    avatar = auth_client.get(PROFILE).json()["avatar"]
    assert avatar["status"] == "failed"
    assert "damaged" in avatar["error"]


def test_render_of_an_unknown_profile_is_harmless(db):
    assert profile_avatar_render(profile_id=987654, version=1) == AvatarOutcome.MISSING


def test_upload_twice_gives_deterministic_names(user, media_root):
    first = _upload(user, pictures.solid())
    second = _upload(user, pictures.solid("WEBP"))
    assert first.avatar_original.name == f"avatars/{user.pk}/1-original.jpg"
    assert second.avatar_original.name == f"avatars/{user.pk}/2-original.webp"
    with Image.open(io.BytesIO((media_root / second.avatar_original.name).read_bytes())) as image:
        assert image.format == "WEBP"
