"""Profile pictures count in the owner's usage: measured by the real worker that makes them,
dropping to the new picture's files when it is replaced, and removed with the account."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.usage.models import UserStorage
from tests.factories import UserFactory
from tests.workers import pictures
from tests.workers.celery_worker import Worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TASK_TIMEOUT = 60.0  # a deadline, not a wait


def picture_files(media_root: Path, user_id: int) -> dict[str, int]:
    folder = media_root / "avatars" / str(user_id)
    return {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}


def test_pictures_count_drop_when_replaced_and_go_with_the_account(worker: Worker, media_root: Path):
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")

    def storage_bytes() -> int:
        return client.get("/api/user/usage").json()["storage_bytes"]

    def put(data: bytes) -> None:
        image = SimpleUploadedFile("p.png", data, "image/png")
        assert (
            client.put("/api/user/profile/picture", {"image": image}, format="multipart").status_code == 202
        )

    assert storage_bytes() == 0
    put(pictures.solid("PNG", size=(1600, 1600), color="red"))
    wait_until(lambda: storage_bytes() > 0, timeout=TASK_TIMEOUT, message="first picture counted")
    first = picture_files(media_root, user.pk)
    assert len(first) == 4  # three sizes and the cleaned original
    assert storage_bytes() == sum(first.values())

    put(pictures.solid("PNG", size=(300, 300), color="blue"))
    wait_until(
        lambda: (
            UserStorage.objects.filter(user=user, object_count=4).exists()
            and set(picture_files(media_root, user.pk)).isdisjoint(first)
        ),
        timeout=TASK_TIMEOUT,
        message="second picture counted",
    )
    second = picture_files(media_root, user.pk)
    assert storage_bytes() == sum(second.values())  # the first one's files no longer count
    assert sum(second.values()) != sum(first.values())

    user_id = user.pk
    assert picture_files(media_root, user_id)
    user.delete()
    wait_until(
        lambda: picture_files(media_root, user_id) == {}, timeout=TASK_TIMEOUT, message="pictures removed"
    )
    assert not UserStorage.objects.filter(user_id=user_id).exists()
