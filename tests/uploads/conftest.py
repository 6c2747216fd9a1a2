from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import ChannelFactory, UserFactory


@dataclass
class Sent:
    """Tasks the services queued (the broker is not part of these tests)."""

    tasks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def sent(monkeypatch) -> Sent:
    from api.uploads import services

    record = Sent()
    monkeypatch.setattr(
        services,
        "task_enqueue_on_commit",
        lambda name, *, kwargs, expires=None, queue=None: record.tasks.append((name, kwargs)),
    )
    return record


@pytest.fixture
def upload_dirs(settings, tmp_path):
    settings.UPLOAD_ROOT = tmp_path / "uploads"
    settings.HLS_ROOT = tmp_path / "hls"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


@pytest.fixture
def creator(db):
    user = UserFactory()
    ChannelFactory(owner=user)
    return user
