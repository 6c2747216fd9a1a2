from __future__ import annotations

import factory
from django.utils import timezone

from api.channels.models import Channel
from api.channels.stream_keys import (
    stream_key_display_prefix,
    stream_key_encrypt,
    stream_key_generate,
    stream_key_hash,
)
from api.users.models import User
from api.videos.models import Video, VideoStatus

TEST_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ChannelFactory(factory.django.DjangoModelFactory):
    """A channel with a real stream key; pass stream_key="live_..." to choose it."""

    class Meta:
        model = Channel

    class Params:
        stream_key = factory.LazyFunction(stream_key_generate)

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"channel{n}")
    title = factory.Sequence(lambda n: f"Channel {n}")
    description = ""
    stream_key_hash = factory.LazyAttribute(lambda c: stream_key_hash(c.stream_key))
    stream_key_ciphertext = factory.LazyAttribute(
        lambda c: stream_key_encrypt(c.stream_key, key_hash=stream_key_hash(c.stream_key))
    )
    stream_key_prefix = factory.LazyAttribute(lambda c: stream_key_display_prefix(c.stream_key))
    stream_key_rotated_at = factory.LazyFunction(timezone.now)


class VideoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Video

    channel = factory.SubFactory(ChannelFactory)
    url = factory.Sequence(lambda n: f"v{n:015d}")
    title = factory.Sequence(lambda n: f"Video {n}")
    status = VideoStatus.SCHEDULED
