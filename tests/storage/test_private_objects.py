"""A private video's objects are never public objects, against a real SeaweedFS whose bucket
policy is the one docs/operations.md gives (anonymous reads of `hls/*` and `media/*` only): its
renditions sit below `private/hls/`, the HLS server plays them with a token only (a node without
the private marker answers 404 to the plain path), and a change of visibility moves them."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as DjangoSettings

from api.core.tasks import PendingTask
from api.usage.objects import object_store, video_hls_upload
from api.videos.models import VideoStatus, VideoVisibility
from api.videos.services import VIDEO_OBJECTS_MOVE_TASK, video_update
from hls_out.server import HlsServer
from hls_out.settings import HlsSettings
from tests.factories import VideoFactory
from tests.seaweed import BUCKET, SeaweedServer
from tidecast_common.object_store import hls_key, master_key
from tidecast_common.playback_tokens import mint
from workers.tasks import video_objects_move

pytestmark = pytest.mark.django_db

TOKEN_KEY = "k" * 32
SEGMENT = b"\x47" + bytes(range(187)) * 3
PUBLIC_POLICY = {  # as in docs/operations.md
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PublicHlsAndMedia",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::{BUCKET}/hls/*", f"arn:aws:s3:::{BUCKET}/media/*"],
        }
    ],
}


@pytest.fixture
def public_bucket(
    settings: DjangoSettings, seaweed: SeaweedServer, tmp_path: Path
) -> Iterator[SeaweedServer]:
    for name, value in seaweed.environment().items():
        setattr(settings, name, value)
    settings.HLS_ROOT = tmp_path / "hls"
    object_store.cache_clear()
    client = seaweed.store().client
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(PUBLIC_POLICY))
    yield seaweed
    client.delete_bucket_policy(Bucket=BUCKET)
    object_store.cache_clear()


def anonymous_get(seaweed: SeaweedServer, key: str) -> int:
    """The status of an unsigned GET of the key (the public-URL form: a CDN in front of it)."""
    try:
        with urllib.request.urlopen(f"{seaweed.endpoint}/{BUCKET}/{key}", timeout=5) as answer:  # noqa: S310 - http only
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_status(seaweed: SeaweedServer, key: str, status: int) -> int:
    """The store may take a moment to apply a bucket policy: the status, once it is `status` or
    after 10 s."""
    deadline = time.monotonic() + 10
    while (found := anonymous_get(seaweed, key)) != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


async def hls_out_answers(root: Path, seaweed: SeaweedServer, paths: list[str]) -> list[tuple[int, bytes]]:
    """GET each path from a real HLS server reading the store (`root` holds no private marker)."""
    server = HlsServer(
        HlsSettings(hls_root=root, port=0, store=seaweed.settings(), playback_token_key=TOKEN_KEY)
    )
    await server.start()
    try:
        answers = []
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as answer:
                    answers.append((answer.status, await answer.read()))
        return answers
    finally:
        await server.stop(grace_seconds=1)


def move_tasks(callbacks: list[object]) -> list[dict[str, object]]:
    pending = [getattr(callback, "__self__", None) for callback in callbacks]
    return [
        task.kwargs
        for task in pending
        if isinstance(task, PendingTask) and task.name == VIDEO_OBJECTS_MOVE_TASK
    ]


def test_a_private_video_is_never_a_public_object_and_moves_with_its_visibility(
    public_bucket: SeaweedServer,
    settings: DjangoSettings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    video = VideoFactory(status=VideoStatus.READY, visibility=VideoVisibility.PRIVATE)
    folder = settings.HLS_ROOT / video.url / "720p"
    folder.mkdir(parents=True)
    (folder / "seg_00001.ts").write_bytes(SEGMENT)
    (folder / "index.m3u8").write_bytes(b"#EXTM3U\n#EXTINF:2.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n")
    (settings.HLS_ROOT / f"{video.url}.m3u8").write_bytes(b"#EXTM3U\n720p/index.m3u8\n")
    assert video_hls_upload(video_url=video.url) == 3
    store = public_bucket.store()
    segment = f"{video.url}/720p/seg_00001.ts"
    public_key, private_key = hls_key(segment), hls_key(segment, private=True)
    assert store.size(public_key) is None
    assert store.size(private_key) == len(SEGMENT)
    assert store.size(master_key(video.url, private=True)) is not None
    assert anonymous_get(public_bucket, public_key) in {403, 404}  # nothing below the public prefix
    assert anonymous_get(public_bucket, private_key) == 403  # and the private one is closed

    # The local copy gone, on a node without the marker: plain paths 404, the token path plays.
    for path in sorted(settings.HLS_ROOT.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    settings.HLS_ROOT.mkdir(exist_ok=True)
    token = mint(key=TOKEN_KEY.encode(), video_url=video.url, expires=int(time.time()) + 600, grace=60)
    plain, tokenized, master = asyncio.run(
        hls_out_answers(
            settings.HLS_ROOT,
            public_bucket,
            [
                f"/hls-live/{segment}",
                f"/hls-live/t/{token}/{segment}",
                f"/hls-live/t/{token}/{video.url}.m3u8",
            ],
        )
    )
    assert plain[0] == 404
    assert tokenized == (200, SEGMENT)
    assert master[0] == 200
    assert b"720p/index.m3u8" in master[1]

    # Made public: after the commit a task moves the objects below the public prefix.
    with django_capture_on_commit_callbacks() as callbacks:
        video_update(video=video, visibility=VideoVisibility.PUBLIC)
    assert move_tasks(callbacks) == [{"video_url": video.url}]
    assert video_objects_move(video_url=video.url) == 3
    assert video_objects_move(video_url=video.url) == 0  # idempotent
    assert store.size(private_key) is None
    assert wait_for_status(public_bucket, public_key, 200) == 200
    assert store.client.head_object(Bucket=BUCKET, Key=public_key)["ContentType"] == "video/mp2t"

    # Private again: moved back, the public URL closed.
    with django_capture_on_commit_callbacks() as callbacks:
        video_update(video=video, visibility=VideoVisibility.PRIVATE)
    assert move_tasks(callbacks) == [{"video_url": video.url}]
    assert video_objects_move(video_url=video.url) == 3
    assert store.size(private_key) == len(SEGMENT)
    assert store.size(public_key) is None
    assert anonymous_get(public_bucket, public_key) in {403, 404}
    assert sorted(item.key for item in store.video_objects(video.url)) == sorted(
        [
            private_key,
            hls_key(f"{video.url}/720p/index.m3u8", private=True),
            master_key(video.url, private=True),
        ]
    )

    # An unlisted video stays below the public prefix: no move between public and unlisted.
    with django_capture_on_commit_callbacks() as callbacks:
        video_update(video=video, visibility=VideoVisibility.PUBLIC)
    with django_capture_on_commit_callbacks() as callbacks:
        video_update(video=video, visibility=VideoVisibility.UNLISTED)
    assert move_tasks(callbacks) == []


def test_the_command_moves_what_was_stored_before_private_videos_had_their_prefix(
    public_bucket: SeaweedServer, settings: DjangoSettings
) -> None:
    """Objects of a private video below the public prefix (stored by an earlier release) move
    below the private one; a public video's stay, and `--all` brings back a public video's strays."""
    private = VideoFactory(status=VideoStatus.READY, visibility=VideoVisibility.PRIVATE)
    public = VideoFactory(status=VideoStatus.READY, visibility=VideoVisibility.PUBLIC)
    store = public_bucket.store()
    for video, stored_private in ((private, False), (public, True)):
        store.client.put_object(
            Bucket=BUCKET, Key=hls_key(f"{video.url}/720p/seg_00001.ts", private=stored_private), Body=SEGMENT
        )
        store.client.put_object(
            Bucket=BUCKET, Key=master_key(video.url, private=stored_private), Body=b"#EXTM3U\n"
        )
    kept = VideoFactory(status=VideoStatus.READY, visibility=VideoVisibility.PUBLIC)
    store.client.put_object(Bucket=BUCKET, Key=master_key(kept.url), Body=b"#EXTM3U\n")

    output = io.StringIO()
    call_command("move_private_objects", stdout=output)
    assert output.getvalue().strip() == "1 videos checked, 2 objects moved"
    assert store.size(hls_key(f"{private.url}/720p/seg_00001.ts", private=True)) == len(SEGMENT)
    assert store.size(hls_key(f"{private.url}/720p/seg_00001.ts")) is None
    assert anonymous_get(public_bucket, master_key(private.url)) in {403, 404}
    assert store.size(master_key(public.url, private=True)) is not None  # not looked at without --all

    output = io.StringIO()
    call_command("move_private_objects", "--all", stdout=output)
    assert output.getvalue().strip() == "3 videos checked, 2 objects moved"
    assert store.size(master_key(public.url)) is not None
    assert store.size(master_key(public.url, private=True)) is None
    assert store.size(master_key(kept.url)) is not None
    call_command("move_private_objects", "--all", stdout=(output := io.StringIO()))
    assert output.getvalue().strip() == "3 videos checked, 0 objects moved"  # idempotent


def test_the_command_says_plainly_when_there_is_no_store(settings: DjangoSettings) -> None:
    settings.STORAGE_S3_ENDPOINT = ""
    settings.STORAGE_S3_BUCKET = ""
    object_store.cache_clear()
    with pytest.raises(CommandError, match="no object store is configured"):
        call_command("move_private_objects")
    object_store.cache_clear()
