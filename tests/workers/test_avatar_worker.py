"""Profile pictures end to end: the API queues through the real broker, a real worker resizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.profiles.models import AvatarStatus, Profile
from api.profiles.services import avatar_file_prefix, avatar_size_name, avatar_upload_name
from tests.factories import UserFactory
from tests.workers import pictures
from tests.workers.celery_worker import Worker, broker_reset, wait_until
from workers import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE = "/api/user/profile"
PICTURE = "/api/user/profile/picture"
TASK_TIMEOUT = 60.0  # a deadline, not a wait: generous for a loaded machine


@pytest.fixture
def account():
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return user, client


def upload(client: APIClient, data: bytes):
    return client.put(PICTURE, {"image": SimpleUploadedFile("p.jpg", data, "image/jpeg")}, format="multipart")


def wait_for_status(client: APIClient, status: str) -> dict:
    def avatar() -> dict:
        return client.get(PROFILE).json()["avatar"] or {}

    wait_until(lambda: avatar().get("status") == status, timeout=TASK_TIMEOUT, message=f"avatar {status}")
    return avatar()


def local_file(media_root: Path, url: str) -> Path:
    return media_root / url.split("/media/", 1)[1]


def test_upload_ends_ready_with_sizes_and_orientation(worker: Worker, account, media_root: Path):
    _, client = account
    response = upload(client, pictures.halves_jpeg(size=(1200, 600), orientation=6))
    assert response.status_code == 202
    avatar = wait_for_status(client, "ready")
    assert sorted(avatar["sizes"], key=int) == ["64", "128", "256"]
    for size, url in avatar["sizes"].items():
        with Image.open(local_file(media_root, url)) as image:
            assert image.size == (int(size), int(size))
            assert not image.getexif()
    with Image.open(local_file(media_root, avatar["original"])) as image:
        assert image.size == (600, 1200)  # upright: orientation 6 was applied
        assert not image.getexif()
    with Image.open(local_file(media_root, avatar["sizes"]["256"])) as image:
        rgb = image.convert("RGB")
        assert rgb.getpixel((200, 30))[0] > 200  # red on top: orientation 6 was applied
        assert rgb.getpixel((56, 226))[2] > 200  # blue below
    assert "outcome=ready" in worker.log()


def test_two_quick_uploads_the_newer_wins(worker: Worker, account, media_root: Path):
    user, client = account
    assert upload(client, pictures.solid(size=(900, 900), color="red")).status_code == 202
    assert upload(client, pictures.solid(size=(900, 900), color="blue")).status_code == 202
    avatar = wait_for_status(client, "ready")
    wait_until(
        lambda: Profile.objects.get(user=user).avatar_version == 2 and "version 1 outcome" in worker.log(),
        timeout=TASK_TIMEOUT,
        message="both tasks handled",
    )
    profile = Profile.objects.get(user=user)
    assert profile.avatar_sizes["64"] == avatar_size_name(user_id=user.pk, version=2, size=64)
    with Image.open(local_file(media_root, avatar["sizes"]["64"])) as image:
        red, _, blue = image.convert("RGB").getpixel((32, 32))
    assert blue > 200
    assert red < 60
    files = sorted(path.name for path in (media_root / f"avatars/{user.pk}").iterdir())
    prefix = avatar_file_prefix(user_id=user.pk, version=2).rsplit("/", 1)[1]
    assert files == sorted(f"{prefix}-{end}" for end in ("64.webp", "128.webp", "256.webp", "original.jpg"))
    assert not any(Path(settings.PRIVATE_MEDIA_ROOT).rglob("*-upload"))


def test_worker_killed_mid_task_the_task_completes_once_after_restart(worker_setup: Worker, account):
    user, client = account
    worker_setup.stop()
    worker_setup.start(WORKER_TEST_TASK_DELAY_SECONDS="30")
    assert upload(client, pictures.solid(size=(800, 600))).status_code == 202
    wait_until(
        lambda: "avatar resize started" in worker_setup.log(), timeout=TASK_TIMEOUT, message="task started"
    )
    worker_setup.kill()
    assert Profile.objects.get(user=user).avatar_status == AvatarStatus.PROCESSING

    worker_setup.start()
    wait_for_status(client, "ready")
    logs = worker_setup.all_logs()
    assert logs.count(f"profile {Profile.objects.get(user=user).pk}: picture version 1 ready") == 1
    if celery_app.conf.broker_url.startswith("amqp"):
        # RabbitMQ redelivered the unacknowledged message (acks_late + reject_on_worker_lost).
        assert "version 1 redelivered=True" in worker_setup.log()


@pytest.fixture
def broker_down():
    """Point this process at a broker port where nothing listens."""
    # broker_write_url: Celery lets a CELERY_BROKER_URL environment variable win over broker_url.
    saved = celery_app.conf.get("broker_write_url"), celery_app.conf.broker_transport_options
    celery_app.conf.broker_write_url = "amqp://guest:guest@127.0.0.1:9//"
    celery_app.conf.broker_transport_options = {}
    broker_reset()
    yield
    celery_app.conf.broker_write_url, celery_app.conf.broker_transport_options = saved
    broker_reset()


def test_broker_down_answers_503_and_leaves_nothing_half_done(account, broker_down, media_root: Path):
    user, client = account
    Profile.objects.create(
        user=user,
        avatar_status=AvatarStatus.READY,
        avatar_version=3,
        avatar_original=f"avatars/{user.pk}/3-original.jpg",
        avatar_sizes={"64": f"avatars/{user.pk}/3-64.webp"},
    )
    response = upload(client, pictures.solid())
    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    assert "try again" in response.json()["detail"]
    profile = Profile.objects.get(user=user)
    assert (profile.avatar_status, profile.avatar_version) == (AvatarStatus.READY, 3)
    assert profile.avatar_original.name == f"avatars/{user.pk}/3-original.jpg"
    assert not (Path(settings.PRIVATE_MEDIA_ROOT) / avatar_upload_name(user_id=user.pk, version=4)).exists()
