"""Webhooks through the API and the delivery service, against a real HTTP receiver in a thread.

The deliveries here are tried in the test's process (webhook_delivery_attempt, as the worker task
calls it); tests/workers/test_webhook_worker.py runs them through a real Celery worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken
from standardwebhooks.webhooks import Webhook

from api.activity.models import ActivityAction, ActivityEntry
from api.videos.models import VideoStatus
from api.videos.services import video_publish_end, video_publish_start
from api.webhooks import services as webhook_services
from api.webhooks import targets
from api.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.webhooks.services import (
    webhook_create,
    webhook_deliveries_prune,
    webhook_deliveries_sweep,
    webhook_delivery_attempt,
    webhook_event_emit,
)
from tests.api.webhook_receiver import Receiver, running_receiver
from tests.factories import ChannelFactory, UserFactory, VideoFactory

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/user/webhooks"
KEY = "live_" + "k" * 43
ALL_EVENTS = ["stream.started", "stream.ended", "video.ready", "video.failed", "video.deleted"]


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _run_all(max_rounds: int = 50) -> list[str]:
    """Try every pending delivery, oldest first, until none is due (zero pauses in these tests)."""
    outcomes = []
    for _ in range(max_rounds):
        pending = list(
            WebhookDelivery.objects.filter(state=DeliveryState.PENDING).values_list("id", flat=True)
        )
        if not pending:
            break
        outcomes += [webhook_delivery_attempt(delivery_id=delivery_id) for delivery_id in pending]
    return outcomes


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def no_pauses(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0, 0, 0, 0, 0]


# --- the API -------------------------------------------------------------------------------------


def test_a_webhook_is_created_with_its_secret_shown_once():
    user = UserFactory()
    client = _client_for(user)
    created = client.post(
        WEBHOOKS, {"url": "https://bot.example.com/hook", "events": ["stream.started"]}, format="json"
    )

    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "url", "events", "secret", "created_at"}
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["stream.started"]
    listed = client.get(WEBHOOKS).json()
    assert listed == [{key: body[key] for key in ("id", "url", "events", "created_at")}]
    assert body["secret"] not in client.get(WEBHOOKS).content.decode()
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] not in stored.secret_ciphertext
    entry = ActivityEntry.objects.get(user=user)
    assert entry.action == ActivityAction.WEBHOOK_CREATED
    assert "bot.example.com" in entry.detail
    assert body["secret"] not in entry.detail


@pytest.mark.parametrize(
    "payload",
    [
        {"url": "ftp://example.com/x", "events": ["stream.started"]},
        {"url": "not a url", "events": ["stream.started"]},
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["stream.exploded"]},
        {"url": "https://user:pw@example.com/x", "events": ["stream.started"]},
        {"url": "http://10.0.0.1/x", "events": ["stream.started"]},
        {"url": "http://169.254.169.254/latest", "events": ["stream.started"]},
    ],
)
def test_invalid_webhooks_are_refused(auth_client, settings, payload):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = auth_client.post(WEBHOOKS, payload, format="json")
    assert response.status_code == 400, response.json()
    assert WebhookEndpoint.objects.count() == 0


def test_an_account_has_a_bounded_number_of_webhooks(auth_client, settings):
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    for _ in range(2):
        assert (
            auth_client.post(
                WEBHOOKS, {"url": "https://a.example/x", "events": ALL_EVENTS}, format="json"
            ).status_code
            == 201
        )
    third = auth_client.post(WEBHOOKS, {"url": "https://a.example/x", "events": ALL_EVENTS}, format="json")
    assert third.status_code == 409
    assert third.json()["code"] == "too_many_webhooks"


def test_only_the_owner_sees_deletes_and_reads_the_deliveries_of_a_webhook():
    owner, other = UserFactory(), UserFactory()
    endpoint, _ = webhook_create(owner=owner, url="https://a.example/x", events=ALL_EVENTS)
    stranger = _client_for(other)
    assert stranger.get(WEBHOOKS).json() == []
    assert stranger.delete(f"{WEBHOOKS}/{endpoint.pk}").status_code == 404
    assert stranger.get(f"{WEBHOOKS}/{endpoint.pk}/deliveries").status_code == 404
    assert _client_for(owner).get(f"{WEBHOOKS}/999999999999999999/deliveries").status_code == 404

    assert _client_for(owner).delete(f"{WEBHOOKS}/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert ActivityEntry.objects.filter(user=owner, action=ActivityAction.WEBHOOK_DELETED).count() == 1


# --- delivering ----------------------------------------------------------------------------------


def test_a_stream_start_is_delivered_signed_with_the_public_video(receiver):
    channel = ChannelFactory(stream_key=KEY)
    endpoint, secret = webhook_create(owner=channel.owner, url=receiver.url, events=["stream.started"])
    grant = video_publish_start(stream_key=KEY, client_ip="192.0.2.1")
    video_publish_end(publish_id=grant.publish_id)  # not subscribed: nothing sent

    assert _run_all() == ["succeeded"]
    [request] = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "stream.started"
    assert payload["timestamp"].endswith("Z")
    video = payload["data"]["video"]
    assert video["url"] == grant.video_url
    assert video["status"] == "live"
    assert video["channel"]["name"] == channel.name
    assert "id" not in video  # the public representation
    assert "live_stats" not in video
    assert KEY not in request.body.decode()
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 10
    assert request.headers["content-type"] == "application/json"

    deliveries = _client_for(channel.owner).get(f"{WEBHOOKS}/{endpoint.pk}/deliveries").json()
    [attempt] = deliveries["results"]
    assert attempt["status_code"] == 200
    assert attempt["error"] == ""
    assert attempt["event"] == "stream.started"
    assert attempt["delivery_state"] == "succeeded"
    assert attempt["message_id"] == request.headers["webhook-id"]


def test_failures_are_retried_each_recorded_and_given_up_after_the_last_try(receiver, no_pauses):
    receiver.statuses = [500] * 10
    channel = ChannelFactory(stream_key=KEY)
    endpoint, secret = webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    video_publish_start(stream_key=KEY, client_ip="192.0.2.1")

    outcomes = _run_all()

    assert outcomes == ["retrying"] * 5 + ["failed"]
    assert len(receiver.requests) == 6
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(ids) == 1  # the same message each time, for receivers that drop duplicates
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)  # re-signed at every try
    attempts = _client_for(channel.owner).get(f"{WEBHOOKS}/{endpoint.pk}/deliveries").json()["results"]
    assert [a["attempt"] for a in attempts] == [6, 5, 4, 3, 2, 1]
    assert all(a["status_code"] == 500 and a["error"] == "HTTP 500" for a in attempts)
    assert all(
        len(a["response_excerpt"]) <= 256 and a["response_excerpt"].startswith("receiver says no")
        for a in attempts
    )
    assert WebhookDelivery.objects.get().state == DeliveryState.FAILED


def test_the_retry_pauses_grow_with_jitter(settings):
    settings.WEBHOOK_RETRY_DELAYS = [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert webhook_services.webhook_tries() >= 5
    nominal = settings.WEBHOOK_RETRY_DELAYS
    pauses = [webhook_services._pause_after(n) for n in range(1, 8)]
    assert nominal == sorted(nominal)
    assert all(0.9 * n <= p <= 1.1 * n for n, p in zip(nominal, pauses, strict=True))
    assert 20 * 3600 < sum(pauses) < 34 * 3600  # about a day
    assert len({webhook_services._pause_after(1) for _ in range(20)}) > 1


def test_one_videos_events_wait_for_the_previous_one_and_other_videos_do_not(receiver, no_pauses):
    channel = ChannelFactory()
    first_video = VideoFactory(channel=channel, status=VideoStatus.LIVE, started_at=timezone.now())
    other_video = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    webhook_event_emit(event="stream.started", video=first_video)
    webhook_event_emit(event="stream.ended", video=first_video)
    webhook_event_emit(event="stream.started", video=other_video)
    started, ended, other = WebhookDelivery.objects.order_by("id")
    receiver.statuses = [503, 200, 503]  # in the order the requests arrive

    assert webhook_delivery_attempt(delivery_id=started.pk) == "retrying"
    assert webhook_delivery_attempt(delivery_id=ended.pk) == "waiting"
    assert webhook_delivery_attempt(delivery_id=other.pk) == "succeeded"  # not held up
    assert webhook_delivery_attempt(delivery_id=started.pk) == "retrying"
    assert webhook_delivery_attempt(delivery_id=ended.pk) == "waiting"
    assert webhook_delivery_attempt(delivery_id=started.pk) == "succeeded"
    assert webhook_delivery_attempt(delivery_id=ended.pk) == "succeeded"
    assert webhook_delivery_attempt(delivery_id=ended.pk) == "finished"  # a duplicate message

    seen = [(r.json["type"], r.json["data"]["video"]["url"], r.status) for r in receiver.requests]
    assert seen == [
        ("stream.started", first_video.url, 503),
        ("stream.started", other_video.url, 200),
        ("stream.started", first_video.url, 503),
        ("stream.started", first_video.url, 200),
        ("stream.ended", first_video.url, 200),
    ]


def test_a_delivery_that_gave_up_lets_the_next_one_go(receiver, no_pauses):
    receiver.statuses = [500] * 6
    channel = ChannelFactory()
    video = VideoFactory(channel=channel)
    webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    webhook_event_emit(event="stream.started", video=video)
    webhook_event_emit(event="stream.ended", video=video)
    assert _run_all().count("failed") == 1
    assert [r.json["type"] for r in receiver.requests][-1] == "stream.ended"
    assert receiver.requests[-1].status == 200


def test_only_subscribed_events_of_the_owners_videos_are_sent(receiver):
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=receiver.url, events=["video.deleted"])
    webhook_create(owner=UserFactory(), url=receiver.url, events=ALL_EVENTS)  # someone else's
    video = VideoFactory(channel=channel)
    assert webhook_event_emit(event="stream.started", video=video) == 0
    assert webhook_event_emit(event="video.deleted", video=video) == 1


def test_deleting_a_video_sends_video_deleted_with_the_video_as_it_was(receiver):
    channel = ChannelFactory()
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, title="Gone soon")
    webhook_create(owner=channel.owner, url=receiver.url, events=["video.deleted"])
    assert _client_for(channel.owner).delete(f"/api/user/channel/videos/{video.url}").status_code == 204
    assert _run_all() == ["succeeded"]
    payload = receiver.requests[0].json
    assert payload["type"] == "video.deleted"
    assert payload["data"]["video"]["title"] == "Gone soon"


def test_a_redirect_is_not_followed(receiver):
    receiver.statuses = [302]
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
    assert webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "retrying"
    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.get().status_code == 302


def test_a_private_target_is_refused_at_send_time_and_nothing_is_sent(receiver, settings):
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # e.g. the name now resolves to 127.0.0.1
    webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
    assert webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "retrying"
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "loopback" in attempt.error
    assert receiver.requests == []


def test_the_connection_goes_to_the_checked_address_with_the_original_host(receiver, monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and that address is the one connected to."""
    port = receiver.server.server_address[1]
    answers = iter(["127.0.0.1"])  # a second resolution would raise StopIteration
    real = socket.getaddrinfo

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == "hooks.rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(targets.socket, "getaddrinfo", rebinding_getaddrinfo)
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=f"http://hooks.rebind.test:{port}/hooks", events=ALL_EVENTS)
    webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
    assert webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "succeeded"
    assert receiver.requests[0].headers["host"] == f"hooks.rebind.test:{port}"


def test_a_receiver_that_never_answers_times_out(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections complete in the backlog; nothing ever answers
    try:
        channel = ChannelFactory()
        webhook_create(
            owner=channel.owner, url=f"http://127.0.0.1:{silent.getsockname()[1]}/", events=ALL_EVENTS
        )
        webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
        started = time.monotonic()
        assert webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "retrying"
        assert time.monotonic() - started < 3
    finally:
        silent.close()
    assert "no answer within 0.5 s" in WebhookAttempt.objects.get().error


def test_the_sweep_queues_the_due_head_of_each_chain(monkeypatch):
    queued = []
    monkeypatch.setattr(webhook_services, "task_enqueue", lambda name, *, kwargs, **_: queued.append(kwargs))
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url="https://a.example/x", events=ALL_EVENTS)
    first, second = VideoFactory(channel=channel), VideoFactory(channel=channel)
    for video in (first, second, first):
        webhook_event_emit(event="stream.started", video=video)
    a, b, _ = WebhookDelivery.objects.order_by("id")
    assert webhook_deliveries_sweep() == 2
    assert queued == [{"delivery_id": a.pk}, {"delivery_id": b.pk}]
    queued.clear()
    WebhookDelivery.objects.filter(pk=a.pk).update(
        next_attempt_at=timezone.now() + timezone.timedelta(hours=1)
    )
    webhook_deliveries_sweep()
    assert {"delivery_id": a.pk} not in queued


def test_finished_deliveries_are_pruned(settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url="https://a.example/x", events=ALL_EVENTS)
    webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
    webhook_event_emit(event="stream.ended", video=VideoFactory(channel=channel))
    old, pending = WebhookDelivery.objects.order_by("id")
    old_time = timezone.now() - timezone.timedelta(days=31)
    WebhookDelivery.objects.filter(pk=old.pk).update(state=DeliveryState.SUCCEEDED, finished_at=old_time)
    assert webhook_deliveries_prune() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [pending.pk]


def test_too_many_undelivered_events_are_dropped_not_queued(settings):
    settings.WEBHOOK_MAX_PENDING_PER_ENDPOINT = 2
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url="https://a.example/x", events=ALL_EVENTS)
    video = VideoFactory(channel=channel)
    assert [webhook_event_emit(event="stream.started", video=video) for _ in range(3)] == [1, 1, 0]


def test_the_body_is_compact_json_with_type_timestamp_and_data(receiver):
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=receiver.url, events=ALL_EVENTS)
    webhook_event_emit(event="video.ready", video=VideoFactory(channel=channel))
    _run_all()
    body = receiver.requests[0].body
    assert set(json.loads(body)) == {"type", "timestamp", "data"}
    assert b": " not in body


def test_the_periodic_schedule_runs_the_sweep_and_the_pruning(settings):
    from workers.tasks import webhooks_prune, webhooks_sweep

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["sweep-webhook-deliveries"]["task"] == webhooks_sweep.name
    assert schedule["sweep-webhook-deliveries"]["schedule"] <= 30
    assert schedule["prune-webhook-deliveries"]["task"] == webhooks_prune.name


@pytest.mark.parametrize(
    ("module", "env", "allowed"),
    [
        ("api.settings.production", {}, False),
        ("api.settings.production", {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "1"}, True),
        ("api.settings.local", {}, True),
    ],
)
def test_private_targets_are_off_in_production_and_on_in_local_settings(tmp_path, module, env, allowed):
    code = "import django; django.setup(); from django.conf import settings as s; print(s.WEBHOOK_ALLOW_PRIVATE_TARGETS)"
    secrets = {"SECRET_KEY": "s" * 40, "INGEST_SHARED_SECRET": "i" * 40, "PLAYBACK_TOKEN_KEY": "p" * 40}
    environment = {k: v for k, v in os.environ.items() if k != "WEBHOOK_ALLOW_PRIVATE_TARGETS"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **environment,
            "DJANGO_SETTINGS_MODULE": module,
            "TIDECAST_DATA_DIR": str(tmp_path),
            **secrets,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == str(allowed), result.stderr
