"""Webhooks through the real broker and a real Celery worker process, to a real HTTP receiver:
delivered within seconds of the commit, retried after growing pauses, one video's events in order."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from api.videos.services import video_publish_end, video_publish_start
from api.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from api.webhooks.services import webhook_create
from tests.api.webhook_receiver import Receiver, running_receiver
from tests.factories import ChannelFactory
from tests.workers.celery_worker import Worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "live_" + "w" * 43


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try_and_the_next_one_after(
    worker: Worker, receiver: Receiver
):
    receiver.statuses = [500, 500]
    channel = ChannelFactory(stream_key=KEY)
    _, secret = webhook_create(
        owner=channel.owner, url=receiver.url, events=["stream.started", "stream.ended"]
    )

    emitted = time.monotonic()
    grant = video_publish_start(stream_key=KEY, client_ip="192.0.2.1")
    video_publish_end(publish_id=grant.publish_id)  # queued while the first event is still failing

    requests = receiver.wait_for(4, timeout=30)
    assert requests[0].at - emitted < 5, "the first try comes within 5 s of the commit"
    assert [(r.json["type"], r.status) for r in requests] == [
        ("stream.started", 500),
        ("stream.started", 500),
        ("stream.started", 200),
        ("stream.ended", 200),
    ]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests[:3])]
    assert all(gap >= 0.4 for gap in gaps), gaps  # the test settings' 0.5 s pauses, -10% jitter
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
        assert request.json["data"]["video"]["url"] == grant.video_url

    wait_until(
        lambda: not WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists(),
        timeout=10,
        message="both deliveries finished",
    )
    started, ended = WebhookDelivery.objects.order_by("id")
    assert started.state == ended.state == DeliveryState.SUCCEEDED
    codes = list(
        WebhookAttempt.objects.filter(delivery=started)
        .order_by("number")
        .values_list("status_code", flat=True)
    )
    assert codes == [500, 500, 200]
    assert WebhookAttempt.objects.filter(delivery=ended).count() == 1
    time.sleep(1.5)
    assert len(receiver.requests) == 4, "nothing is sent twice"


def test_a_receiver_that_always_fails_gets_every_try_then_the_delivery_gives_up(
    worker: Worker, receiver: Receiver, settings
):
    receiver.statuses = [503] * 20
    channel = ChannelFactory(stream_key=KEY)
    webhook_create(owner=channel.owner, url=receiver.url, events=["stream.started"])
    video_publish_start(stream_key=KEY, client_ip="192.0.2.1")

    tries = len(settings.WEBHOOK_RETRY_DELAYS) + 1
    wait_until(
        lambda: WebhookDelivery.objects.filter(state=DeliveryState.FAILED).exists(),
        timeout=40,
        message=f"{tries} tries then gave up",
    )
    assert len(receiver.requests) == tries
    assert WebhookAttempt.objects.count() == tries
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(receiver.requests)]
    # Each pause at least its setting less the 10% jitter (a loaded machine only makes them longer).
    delays = settings.WEBHOOK_RETRY_DELAYS
    assert all(gap >= 0.9 * delay for gap, delay in zip(gaps, delays, strict=True)), (gaps, delays)
