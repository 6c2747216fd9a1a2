from datetime import timedelta

import pytest
from django.utils import timezone

from api.videos.models import Video, VideoStatus
from tests.factories import ChannelFactory, VideoFactory
from workers.tasks import videos_end_stale_live

pytestmark = pytest.mark.django_db


def test_live_videos_whose_ingest_went_silent_are_ended(settings):
    settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS = 30
    now = timezone.now()
    stale = VideoFactory(
        channel=ChannelFactory(),
        status=VideoStatus.LIVE,
        started_at=now,
        last_heartbeat_at=now - timedelta(seconds=31),
    )
    fresh = VideoFactory(
        channel=ChannelFactory(),
        status=VideoStatus.LIVE,
        started_at=now,
        last_heartbeat_at=now - timedelta(seconds=5),
    )

    assert videos_end_stale_live.apply().get() == 1

    stale = Video.objects.get(pk=stale.pk)
    assert stale.status == VideoStatus.ENDED
    assert stale.ended_at is not None
    assert Video.objects.get(pk=fresh.pk).status == VideoStatus.LIVE


def test_the_periodic_schedule_runs_the_stale_check(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["end-stale-live-videos"]
    assert entry["task"] == videos_end_stale_live.name
    assert entry["schedule"] <= settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS
