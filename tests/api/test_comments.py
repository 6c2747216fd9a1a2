"""Comments: list (oldest first, ?after=, ?last=), post (signed in, 1-2000 characters, throttled
per user, refused when turned off), delete (author or video owner), 404 where one may not watch."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.comments.models import Comment
from api.videos.models import VideoStatus, VideoVisibility
from tests.factories import ChannelFactory, UserFactory, VideoFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def owner():
    return UserFactory(username="skipper")


@pytest.fixture
def video(owner):
    return VideoFactory(channel=ChannelFactory(owner=owner), status=VideoStatus.LIVE)


@pytest.fixture
def viewer():
    return UserFactory(username="gull")


def comments(url: str) -> str:
    return f"/api/videos/{url}/comments"


def test_post_then_list_oldest_first_and_after(video, viewer):
    client = client_for(viewer)
    first = client.post(comments(video.url), {"text": "  ahoy  "}, format="json")
    assert first.status_code == 201
    body = first.json()
    assert body["text"] == "ahoy"
    assert body["author"] == {"username": "gull", "display_name": ""}
    assert set(body) == {"id", "author", "text", "created_at"}
    second = client.post(comments(video.url), {"text": "second"}, format="json").json()
    listed = APIClient().get(comments(video.url)).json()
    assert [c["text"] for c in listed] == ["ahoy", "second"]
    assert APIClient().get(comments(video.url), {"after": body["id"]}).json() == [second]
    assert APIClient().get(comments(video.url), {"after": second["id"]}).json() == []
    assert [c["text"] for c in APIClient().get(comments(video.url), {"last": 1}).json()] == ["second"]


def test_a_list_is_one_page_and_after_pages_on(video, viewer, settings):
    settings.COMMENTS_PAGE_SIZE = 3
    Comment.objects.bulk_create([Comment(video=video, author=viewer, text=str(n)) for n in range(5)])
    page = APIClient().get(comments(video.url)).json()
    assert [c["text"] for c in page] == ["0", "1", "2"]
    rest = APIClient().get(comments(video.url), {"after": page[-1]["id"]}).json()
    assert [c["text"] for c in rest] == ["3", "4"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_text_is_1_to_2000_characters(video, viewer, text):
    response = client_for(viewer).post(comments(video.url), {"text": text}, format="json")
    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_2000_characters_are_accepted(video, viewer):
    assert (
        client_for(viewer).post(comments(video.url), {"text": "x" * 2000}, format="json").status_code == 201
    )


def test_posting_needs_a_signed_in_user(video):
    assert APIClient().post(comments(video.url), {"text": "hi"}, format="json").status_code == 401
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert stale.post(comments(video.url), {"text": "hi"}, format="json").status_code == 401
    assert stale.get(comments(video.url)).status_code == 200  # reads never 401


def test_comments_turned_off_refuse_posts_with_403(video, viewer):
    video.comments_enabled = False
    video.save()
    response = client_for(viewer).post(comments(video.url), {"text": "hi"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "comments_disabled"


def test_the_author_and_the_owner_delete_others_get_403(video, owner, viewer):
    mine = client_for(viewer).post(comments(video.url), {"text": "mine"}, format="json").json()
    other = client_for(viewer).post(comments(video.url), {"text": "other"}, format="json").json()
    stranger = client_for(UserFactory())
    assert stranger.delete(f"{comments(video.url)}/{mine['id']}").status_code == 403
    assert APIClient().delete(f"{comments(video.url)}/{mine['id']}").status_code == 401
    assert client_for(viewer).delete(f"{comments(video.url)}/{mine['id']}").status_code == 204
    assert client_for(owner).delete(f"{comments(video.url)}/{other['id']}").status_code == 204
    assert client_for(owner).delete(f"{comments(video.url)}/{other['id']}").status_code == 404
    assert not Comment.objects.exists()


def test_a_comment_of_another_video_is_not_found_here(video, viewer, owner):
    elsewhere = VideoFactory(channel=ChannelFactory(owner=UserFactory()), status=VideoStatus.ENDED)
    comment = client_for(viewer).post(comments(elsewhere.url), {"text": "x"}, format="json").json()
    assert client_for(owner).delete(f"{comments(video.url)}/{comment['id']}").status_code == 404


def test_a_private_video_s_comments_exist_for_its_owner_only(video, owner, viewer):
    Comment.objects.create(video=video, author=owner, text="note to self")
    video.visibility = VideoVisibility.PRIVATE
    video.save()
    assert client_for(owner).get(comments(video.url)).status_code == 200
    for client in (APIClient(), client_for(viewer)):
        assert client.get(comments(video.url)).status_code == 404
        assert client.post(comments(video.url), {"text": "hi"}, format="json").status_code in (401, 404)
    comment_id = Comment.objects.get().id
    assert client_for(viewer).delete(f"{comments(video.url)}/{comment_id}").status_code == 404
    assert client_for(viewer).post(comments(video.url), {"text": "hi"}, format="json").status_code == 404


def test_scheduled_and_unknown_videos_have_no_comments(owner, viewer):
    scheduled = VideoFactory(channel=ChannelFactory(owner=owner), status=VideoStatus.SCHEDULED)
    assert APIClient().get(comments(scheduled.url)).status_code == 404
    assert APIClient().get(comments("a" * 16)).status_code == 404
    assert APIClient().get(comments("NOT-A-URL")).status_code == 404


def test_posting_is_throttled_per_user(video, viewer, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "comments": "3/min"},
    }
    client = client_for(viewer)
    statuses = [
        client.post(comments(video.url), {"text": f"m{n}"}, format="json").status_code for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    refused = client.post(comments(video.url), {"text": "again"}, format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    # Another user is not held back by the first one's posts.
    assert (
        client_for(UserFactory()).post(comments(video.url), {"text": "me"}, format="json").status_code == 201
    )
    assert Comment.objects.count() == 4


@pytest.mark.parametrize("query", [{"after": "-1"}, {"after": "x"}, {"last": "5000"}])
def test_bad_queries_are_400(video, query):
    assert APIClient().get(comments(video.url), query).status_code == 400


def test_a_public_list_may_be_shared_for_a_second_a_private_one_never(video, owner, settings):
    assert APIClient().get(comments(video.url))["Cache-Control"] == "public, max-age=1"
    video.visibility = VideoVisibility.PRIVATE
    video.save()
    assert client_for(owner).get(comments(video.url))["Cache-Control"] == "private, no-store"
    settings.COMMENTS_CACHE_SECONDS = 0
    video.visibility = VideoVisibility.UNLISTED
    video.save()
    assert APIClient().get(comments(video.url))["Cache-Control"] == "private, no-store"


def post_committed(client, url: str, text: str, capture) -> dict:
    """Post as the API does in production: the latest-id cache is written once the post commits."""
    with capture(execute=True):
        response = client.post(comments(url), {"text": text}, format="json")
    assert response.status_code == 201
    return response.json()


def test_an_empty_poll_is_answered_from_the_cache_and_a_new_comment_is_seen_at_once(
    video, viewer, django_capture_on_commit_callbacks, django_assert_num_queries
):
    client = client_for(viewer)
    first = post_committed(client, video.url, "first", django_capture_on_commit_callbacks)
    assert [c["id"] for c in APIClient().get(comments(video.url)).json()] == [first["id"]]
    with django_assert_num_queries(0):  # neither the video nor its comments are read
        empty = APIClient().get(comments(video.url), {"after": first["id"]})
    assert empty.status_code == 200
    assert empty.json() == []
    assert empty["Cache-Control"] == "public, max-age=1"
    second = post_committed(client, video.url, "second", django_capture_on_commit_callbacks)
    assert APIClient().get(comments(video.url), {"after": first["id"]}).json() == [second]
    with django_assert_num_queries(0):
        assert APIClient().get(comments(video.url), {"after": second["id"]}).json() == []
    # Opening a chat (?last=) and the first load (no after) always read the database.
    assert [c["text"] for c in APIClient().get(comments(video.url), {"last": 1}).json()] == ["second"]


def test_a_deleted_comment_is_gone_at_once_and_the_next_one_still_arrives(
    video, owner, viewer, django_capture_on_commit_callbacks
):
    client = client_for(viewer)
    first = post_committed(client, video.url, "first", django_capture_on_commit_callbacks)
    second = post_committed(client, video.url, "second", django_capture_on_commit_callbacks)
    assert len(APIClient().get(comments(video.url)).json()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(owner).delete(f"{comments(video.url)}/{second['id']}").status_code == 204
    assert APIClient().get(comments(video.url)).json() == [first]
    assert APIClient().get(comments(video.url), {"after": first["id"]}).json() == []
    assert APIClient().get(comments(video.url), {"after": second["id"]}).json() == []
    third = post_committed(client, video.url, "third", django_capture_on_commit_callbacks)
    for after in (first["id"], second["id"]):
        assert APIClient().get(comments(video.url), {"after": after}).json() == [third]


def test_a_video_made_private_is_checked_again_at_once_despite_the_cache(
    video, owner, viewer, django_capture_on_commit_callbacks
):
    from api.videos.services import video_update

    latest = post_committed(client_for(viewer), video.url, "hello", django_capture_on_commit_callbacks)
    assert APIClient().get(comments(video.url)).status_code == 200  # now cached as watchable
    assert APIClient().get(comments(video.url), {"after": latest["id"]}).json() == []
    with django_capture_on_commit_callbacks(execute=True):
        video_update(video=video, visibility=VideoVisibility.PRIVATE)
    for client in (APIClient(), client_for(viewer)):
        assert client.get(comments(video.url), {"after": latest["id"]}).status_code == 404
    own = client_for(owner).get(comments(video.url), {"after": latest["id"]})
    assert own.status_code == 200
    assert own["Cache-Control"] == "private, no-store"
    # The owner's reads never mark a private video as open to all.
    assert APIClient().get(comments(video.url), {"after": latest["id"]}).status_code == 404
    video.visibility = VideoVisibility.UNLISTED
    video.save()
    assert APIClient().get(comments(video.url), {"after": latest["id"]}).json() == []


def test_every_list_answer_counts_the_deletions_so_a_chat_notices_them_at_its_next_poll(
    video, owner, viewer, django_capture_on_commit_callbacks, django_assert_num_queries
):
    client = client_for(viewer)
    first = post_committed(client, video.url, "first", django_capture_on_commit_callbacks)
    second = post_committed(client, video.url, "second", django_capture_on_commit_callbacks)
    assert APIClient().get(comments(video.url))["Comments-Deleted"] == "0"
    with django_assert_num_queries(0):
        assert APIClient().get(comments(video.url), {"after": second["id"]})["Comments-Deleted"] == "0"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{comments(video.url)}/{first['id']}").status_code == 204
    # The poll a chat keeps sending, answered from the cache, says so: it reads the list again.
    with django_assert_num_queries(0):
        empty = APIClient().get(comments(video.url), {"after": second["id"]})
    assert empty.json() == []
    assert empty["Comments-Deleted"] == "1"
    again = APIClient().get(comments(video.url), {"last": 100})
    assert again.json() == [second]
    assert again["Comments-Deleted"] == "1"
    # A refused or unknown deletion counts nothing.
    assert client_for(UserFactory()).delete(f"{comments(video.url)}/{second['id']}").status_code == 403
    assert client.delete(f"{comments(video.url)}/{first['id']}").status_code == 404
    assert APIClient().get(comments(video.url))["Comments-Deleted"] == "1"


def test_comments_deleted_in_the_admin_are_counted_too(
    video, owner, viewer, django_capture_on_commit_callbacks
):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    other = VideoFactory(channel=video.channel, status=VideoStatus.ENDED)
    made = Comment.objects.bulk_create(
        [
            Comment(video=v, author=viewer, text=t)
            for v, t in [(video, "a"), (video, "b"), (other, "c"), (video, "d")]
        ]
    )
    admin = site._registry[Comment]
    request = RequestFactory().post("/admin/")
    with django_capture_on_commit_callbacks(execute=True):
        admin.delete_model(request, made[3])
        admin.delete_queryset(request, Comment.objects.filter(pk__in=[made[0].pk, made[1].pk, made[2].pk]))
    assert APIClient().get(comments(video.url))["Comments-Deleted"] == "3"
    assert APIClient().get(comments(other.url))["Comments-Deleted"] == "1"
    assert Comment.objects.count() == 0
