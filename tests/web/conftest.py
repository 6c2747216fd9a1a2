from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.channels.models import Channel
from api.channels.services import channel_create
from api.videos.models import Video, VideoStatus
from tests.factories import UserFactory


def make_video(
    channel: Channel, *, url: str, title: str, status: str, minutes_ago: int = 5, viewers: int = 0
) -> Video:
    now = timezone.now()
    started = now - timedelta(minutes=minutes_ago) if status != VideoStatus.SCHEDULED else None
    ended = now - timedelta(minutes=1) if status == VideoStatus.ENDED else None
    return Video.objects.create(
        channel=channel,
        url=url,
        title=title,
        status=status,
        started_at=started,
        ended_at=ended,
        viewer_count=viewers,
    )


@pytest.fixture
def channel(db) -> Channel:
    return channel_create(owner=UserFactory(username="ripley"), name="nostromo", title="Nostromo Bridge")


@pytest.fixture
def live_video(channel: Channel) -> Video:
    return make_video(
        channel, url="live0000000000aa", title="Deep space live", status=VideoStatus.LIVE, viewers=42
    )


@pytest.fixture
def recording(channel: Channel) -> Video:
    return make_video(
        channel, url="rec0000000000bbb", title="Yesterday's landing", status=VideoStatus.ENDED, minutes_ago=90
    )


@pytest.fixture
def scheduled(channel: Channel) -> Video:
    return make_video(
        channel, url="sch0000000000ccc", title="Next week's docking", status=VideoStatus.SCHEDULED
    )
