"""The ingest's internal hooks over real HTTP: secret, authorize rules, heartbeat, end, viewers, throttling."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.channels.selectors import channel_stream_key
from api.videos.models import Video, VideoStatus
from tests.factories import ChannelFactory, VideoFactory

pytestmark = pytest.mark.django_db

AUTHORIZE = "/api/internal/publish/authorize"
HEARTBEAT = "/api/internal/publish/heartbeat"
END = "/api/internal/publish/end"
VIEWERS = "/api/internal/viewers"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ingest(settings) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    return client


@pytest.fixture
def hls(settings) -> APIClient:
    """The HLS server: its own secret, in its own header."""
    client = APIClient()
    client.credentials(HTTP_X_HLS_REPORT_SECRET=settings.HLS_REPORT_SECRET)
    return client


@pytest.fixture
def channel():
    return ChannelFactory(name="tide-pool", title="Tide Pool")


@pytest.fixture
def key(channel) -> str:
    return channel_stream_key(channel=channel)


def authorize(client: APIClient, stream_key: str, client_ip: str = "203.0.113.7"):
    return client.post(AUTHORIZE, {"stream_key": stream_key, "client_ip": client_ip}, format="json")


def go_live(client: APIClient, stream_key: str) -> dict:
    response = authorize(client, stream_key)
    assert response.status_code == 200, response.content
    return response.json()


# --- the shared secret ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AUTHORIZE, HEARTBEAT, END, VIEWERS])
def test_no_secret_is_403(api_client, path, key):
    response = api_client.post(path, {"stream_key": key, "client_ip": "203.0.113.7"}, format="json")
    assert response.status_code == 403
    assert "detail" in response.json()
    assert not Video.objects.exists()


@pytest.mark.parametrize("secret", ["wrong", "test-ingest-secret ", "TEST-INGEST-SECRET", ""])
def test_wrong_secret_is_403(api_client, secret, key):
    api_client.credentials(HTTP_X_INGEST_SECRET=secret)
    response = authorize(api_client, key)
    assert response.status_code == 403
    assert not Video.objects.exists()


@pytest.mark.parametrize("path", [AUTHORIZE, HEARTBEAT, END])
def test_the_hls_server_s_secret_opens_no_publish_hook(api_client, hls, settings, path, key):
    body = {"stream_key": key, "client_ip": "203.0.113.7", "publish_id": str(uuid.uuid4())}
    assert hls.post(path, body, format="json").status_code == 403
    # Nor as the ingest's header.
    api_client.credentials(HTTP_X_INGEST_SECRET=settings.HLS_REPORT_SECRET)
    assert api_client.post(path, body, format="json").status_code == 403
    assert not Video.objects.exists()


def test_the_ingest_s_secret_does_not_open_the_viewer_report(ingest, api_client, settings):
    live = VideoFactory(status=VideoStatus.LIVE, viewer_count=3)
    assert ingest.post(VIEWERS, {"counts": {live.url: 99}}, format="json").status_code == 403
    api_client.credentials(HTTP_X_HLS_REPORT_SECRET=settings.INGEST_SHARED_SECRET)
    assert api_client.post(VIEWERS, {"counts": {live.url: 99}}, format="json").status_code == 403
    live.refresh_from_db()
    assert live.viewer_count == 3


@pytest.mark.parametrize("secret", ["wrong", "test-hls-report-secret ", ""])
def test_a_wrong_viewer_report_secret_is_403(api_client, secret):
    api_client.credentials(HTTP_X_HLS_REPORT_SECRET=secret)
    assert api_client.post(VIEWERS, {"counts": {}}, format="json").status_code == 403


def test_an_empty_viewer_report_secret_admits_no_one(api_client, settings):
    settings.HLS_REPORT_SECRET = ""
    api_client.credentials(HTTP_X_HLS_REPORT_SECRET="")
    assert api_client.post(VIEWERS, {"counts": {}}, format="json").status_code == 403


def test_jwt_does_not_open_the_hooks(api_client, channel, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(channel.owner).access_token}")
    assert authorize(api_client, key).status_code == 403


def test_unset_secret_admits_no_one(ingest, settings, key):
    settings.INGEST_SHARED_SECRET = ""
    ingest.credentials(HTTP_X_INGEST_SECRET="")
    assert authorize(ingest, key).status_code == 403


# --- authorize ------------------------------------------------------------------------------------


def test_unknown_key_is_403_unknown_key(ingest, channel):
    response = authorize(ingest, "live_" + "A" * 43)
    assert response.status_code == 403
    assert response.json() == {"allow": False, "code": "unknown_key", "detail": response.json()["detail"]}
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"stream_key": "live_x"},
        {"client_ip": "203.0.113.7"},
        {"stream_key": "live_x", "client_ip": "not-an-ip"},
        {"stream_key": 123456, "client_ip": ["203.0.113.7"]},
        {"stream_key": "k" * 257, "client_ip": "203.0.113.7"},
    ],
)
def test_authorize_malformed_body_is_400(ingest, body):
    response = ingest.post(AUTHORIZE, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_authorize_bad_json_is_400(ingest):
    response = ingest.post(AUTHORIZE, data="{", content_type="application/json")
    assert response.status_code == 400


def test_valid_key_goes_live_with_newest_scheduled_video(ingest, channel, key, settings):
    older = VideoFactory(channel=channel, title="Older plan")
    newest = VideoFactory(channel=channel, title="Tonight")
    VideoFactory(channel=channel, status=VideoStatus.ENDED, title="Yesterday")
    body = go_live(ingest, key)
    assert body["allow"] is True
    assert body["video_url"] == newest.url
    assert body["channel"] == "tide-pool"
    assert body["ladder"] == settings.TRANSCODE_LADDER
    assert body["segment_seconds"] == settings.HLS_SEGMENT_SECONDS
    assert body["heartbeat_interval"] == 2
    newest.refresh_from_db()
    older.refresh_from_db()
    assert newest.status == VideoStatus.LIVE
    assert str(newest.publish_id) == body["publish_id"]
    assert newest.started_at is not None
    assert newest.last_heartbeat_at is not None
    assert older.status == VideoStatus.SCHEDULED
    assert key not in str(body)


def test_without_scheduled_video_copies_previous_title_and_thumbnail(ingest, channel, key):
    VideoFactory(channel=channel, title="Way back", status=VideoStatus.ENDED, thumbnail="thumbnails/a.png")
    VideoFactory(channel=channel, title="Last week", status=VideoStatus.ENDED, thumbnail="thumbnails/b.png")
    body = go_live(ingest, key)
    video = Video.objects.get(url=body["video_url"])
    assert video.title == "Last week"
    assert video.thumbnail.name == "thumbnails/b.png"
    assert video.status == VideoStatus.LIVE
    assert Video.objects.filter(channel=channel).count() == 3


def test_first_ever_publish_uses_channel_title(ingest, channel, key):
    body = go_live(ingest, key)
    video = Video.objects.get(url=body["video_url"])
    assert video.title == "Tide Pool"
    assert not video.thumbnail
    assert len(video.url) == 16


def test_second_publisher_is_already_live(ingest, channel, key):
    first = go_live(ingest, key)
    response = authorize(ingest, key, client_ip="198.51.100.9")
    assert response.status_code == 403
    assert response.json()["code"] == "already_live"
    assert response.json()["allow"] is False
    live = Video.objects.get(status=VideoStatus.LIVE)
    assert live.url == first["video_url"]
    assert str(live.publish_id) == first["publish_id"]


def test_stale_live_video_is_ended_and_publish_proceeds(ingest, channel, key, settings):
    first = go_live(ingest, key)
    stale = timezone.now() - timedelta(seconds=settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS + 1)
    Video.objects.filter(url=first["video_url"]).update(last_heartbeat_at=stale)
    second = go_live(ingest, key)
    old = Video.objects.get(url=first["video_url"])
    assert old.status == VideoStatus.ENDED
    assert old.ended_at is not None
    assert second["video_url"] != first["video_url"]
    assert Video.objects.get(url=second["video_url"]).title == old.title  # copied from the previous one
    # The dead session is told it has ended.
    response = ingest.post(HEARTBEAT, {"publish_id": first["publish_id"]}, format="json")
    assert response.json() == {"continue": False, "reason": "ended"}


def test_rotation_makes_old_key_fail_at_once(ingest, channel, key):
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(channel.owner).access_token}")
    new_key = owner.post("/api/user/channel/stream-key").json()["stream_key"]
    response = authorize(ingest, key)
    assert response.status_code == 403
    assert response.json()["code"] == "unknown_key"
    assert go_live(ingest, new_key)["channel"] == "tide-pool"


# --- heartbeat ------------------------------------------------------------------------------------


def test_heartbeat_continues_and_records_stats(ingest, channel, key):
    grant = go_live(ingest, key)
    Video.objects.update(last_heartbeat_at=timezone.now() - timedelta(seconds=10))
    stats = {"bitrate_kbps": 2500.5, "fps": 30, "keyframe_interval": 2.0, "transcoder_speed": 1.01}
    response = ingest.post(HEARTBEAT, {"publish_id": grant["publish_id"], "stats": stats}, format="json")
    assert response.status_code == 200
    assert response.json() == {"continue": True, "destinations": []}
    video = Video.objects.get()
    assert video.live_stats == stats
    assert timezone.now() - video.last_heartbeat_at < timedelta(seconds=5)


def test_heartbeat_after_rotation_says_key_rotated(ingest, channel, key):
    grant = go_live(ingest, key)
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(channel.owner).access_token}")
    new_key = owner.post("/api/user/channel/stream-key").json()["stream_key"]
    response = ingest.post(HEARTBEAT, {"publish_id": grant["publish_id"]}, format="json")
    assert response.json() == {"continue": False, "reason": "key_rotated"}
    # The new key may publish straight away: the stopping session does not block it.
    assert go_live(ingest, new_key)["video_url"] != grant["video_url"]


def test_heartbeat_unknown_or_ended_says_ended(ingest, channel, key):
    response = ingest.post(HEARTBEAT, {"publish_id": str(uuid.uuid4())}, format="json")
    assert response.status_code == 200
    assert response.json() == {"continue": False, "reason": "ended"}
    grant = go_live(ingest, key)
    ingest.post(END, {"publish_id": grant["publish_id"]}, format="json")
    response = ingest.post(HEARTBEAT, {"publish_id": grant["publish_id"]}, format="json")
    assert response.json() == {"continue": False, "reason": "ended"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"publish_id": "not-a-uuid"},
        {"publish_id": str(uuid.uuid4()), "stats": {"fps": "fast"}},
        {"publish_id": str(uuid.uuid4()), "stats": [1, 2]},
        {"publish_id": str(uuid.uuid4()), "stats": {f"s{i}": 1 for i in range(33)}},
    ],
)
def test_heartbeat_malformed_is_400(ingest, body):
    assert ingest.post(HEARTBEAT, body, format="json").status_code == 400


# --- end ------------------------------------------------------------------------------------------


def test_end_is_idempotent(ingest, channel, key):
    grant = go_live(ingest, key)
    first = ingest.post(END, {"publish_id": grant["publish_id"]}, format="json")
    assert first.status_code == 200
    assert first.json() == {"video_url": grant["video_url"], "status": "ended"}
    video = Video.objects.get()
    ended_at = video.ended_at
    assert video.status == VideoStatus.ENDED
    again = ingest.post(END, {"publish_id": grant["publish_id"]}, format="json")
    assert again.status_code == 200
    assert again.json() == first.json()
    video.refresh_from_db()
    assert video.ended_at == ended_at
    # After the end, the channel can go live again, copying the title.
    assert go_live(ingest, key)["video_url"] != grant["video_url"]


def test_end_unknown_is_404(ingest):
    response = ingest.post(END, {"publish_id": str(uuid.uuid4())}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_end_malformed_is_400(ingest):
    assert ingest.post(END, {"publish_id": 12}, format="json").status_code == 400
    assert ingest.post(END, {}, format="json").status_code == 400


# --- viewers --------------------------------------------------------------------------------------


def test_viewers_sets_listed_live_videos_only(hls):
    live_a = VideoFactory(status=VideoStatus.LIVE, viewer_count=3)
    live_b = VideoFactory(status=VideoStatus.LIVE, viewer_count=9)
    ended = VideoFactory(status=VideoStatus.ENDED)
    response = hls.post(
        VIEWERS, {"counts": {live_a.url: 42, ended.url: 5, "unknownvideo0000": 1}}, format="json"
    )
    assert response.status_code == 204
    live_a.refresh_from_db()
    live_b.refresh_from_db()
    ended.refresh_from_db()
    assert live_a.viewer_count == 42
    assert live_b.viewer_count == 9  # not listed: unchanged
    assert ended.viewer_count == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"counts": {"abc": -1}}, {"counts": {"abc": "many"}}, {"counts": [1]}, {"counts": {"x" * 33: 1}}],
)
def test_viewers_malformed_is_400(hls, body):
    assert hls.post(VIEWERS, body, format="json").status_code == 400


# --- brute force ----------------------------------------------------------------------------------


def test_repeated_unknown_keys_from_one_address_are_throttled(ingest, channel, key):
    for attempt in range(20):
        response = authorize(ingest, f"live_{attempt:043d}", client_ip="192.0.2.66")
        assert response.status_code == 403, attempt
    response = authorize(ingest, "live_" + "z" * 43, client_ip="192.0.2.66")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Even the right key is refused from that address while it is locked out ...
    assert authorize(ingest, key, client_ip="192.0.2.66").status_code == 429
    assert not Video.objects.filter(status=VideoStatus.LIVE).exists()
    # ... while another address is unaffected.
    assert authorize(ingest, key, client_ip="198.51.100.1").status_code == 200


def test_successes_and_already_live_do_not_count_as_failures(ingest, channel, key):
    go_live(ingest, key)
    for _ in range(25):
        assert authorize(ingest, key, client_ip="192.0.2.70").json()["code"] == "already_live"


def test_guessing_from_many_addresses_never_locks_out_a_valid_key(ingest, channel, key, caplog):
    """300 failures a minute from 15 addresses (the default alert threshold): the valid key still
    publishes, the figure shows on /metrics and one warning is logged."""
    guessers = [f"192.0.2.{n + 1}" for n in range(15)]
    for attempt in range(300):
        response = authorize(ingest, f"live_{attempt:043d}", client_ip=guessers[attempt % 15])
        assert response.status_code == 403, attempt
    assert authorize(ingest, "live_" + "q" * 43, client_ip="198.51.100.9").status_code == 403
    assert authorize(ingest, key, client_ip="198.51.100.1").status_code == 200
    warnings = [r for r in caplog.records if "distributed guessing" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    samples = scrape_text(Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode())
    assert samples["tidecast_ingest_authorize_failures_recent"] == 301
    assert samples["tidecast_ingest_authorize_failures_alert"] == 1


def test_the_alert_metric_is_0_below_the_threshold(ingest, channel):
    assert authorize(ingest, "live_" + "q" * 43).status_code == 403
    samples = scrape_text(Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode())
    assert samples["tidecast_ingest_authorize_failures_recent"] == 1
    assert samples["tidecast_ingest_authorize_failures_alert"] == 0


def test_ipv6_failures_are_counted_per_64(ingest, channel, key):
    for attempt in range(20):
        response = authorize(ingest, f"live_{attempt:043d}", client_ip=f"2001:db8:1:2::{attempt + 1:x}")
        assert response.status_code == 403, attempt
    # Another address of the same /64 is locked out, the neighbouring /64 is not.
    assert authorize(ingest, key, client_ip="2001:db8:1:2:ffff::1").status_code == 429
    assert authorize(ingest, key, client_ip="2001:db8:1:3::1").status_code == 200


def scrape_text(text: str) -> dict[str, float]:
    return {
        name: float(number)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, _, number in [line.rpartition(" ")]
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_authorizations_let_exactly_one_publisher_in(settings):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from api.videos.services import PublishDenied, video_publish_start

    channel = ChannelFactory()
    VideoFactory(channel=channel)
    stream_key = channel_stream_key(channel=channel)

    def attempt(_: int) -> str:
        try:
            return video_publish_start(stream_key=stream_key, client_ip="203.0.113.1").video_url
        except PublishDenied as denial:
            return denial.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    granted = [outcome for outcome in outcomes if outcome != "already_live"]
    assert len(granted) == 1, outcomes
    # SQLite too: its transactions wait for the write lock instead of failing with "database is locked".
    assert outcomes.count("already_live") == 3, outcomes
    assert Video.objects.filter(channel=channel, status=VideoStatus.LIVE).count() == 1
