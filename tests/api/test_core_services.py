"""model_update: the one helper behind plain field updates."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from api.channels.models import Channel
from api.core.services import model_update, texts_given
from api.profiles.models import Profile
from tests.factories import ChannelFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_changed_fields_are_validated_and_saved_alone(django_assert_num_queries):
    channel = ChannelFactory(title="Old", description="Same")
    Channel.objects.filter(pk=channel.pk).update(name="renamed-elsewhere")  # not among `fields`

    with django_assert_num_queries(1):
        updated, changed = model_update(
            instance=channel, fields=["title", "description"], data={"title": "New", "description": "Same"}
        )

    assert changed
    stored = Channel.objects.get(pk=channel.pk)
    assert (stored.title, stored.description, stored.name) == ("New", "Same", "renamed-elsewhere")
    assert updated is channel


def test_nothing_changed_saves_nothing(django_assert_num_queries):
    channel = ChannelFactory(title="Same")
    with django_assert_num_queries(0):
        _, changed = model_update(instance=channel, fields=["title"], data={"title": "Same"})
    assert not changed


def test_fields_outside_the_list_are_ignored():
    channel = ChannelFactory(name="kept")
    _, changed = model_update(instance=channel, fields=["title"], data={"name": "changed"})
    assert not changed
    assert Channel.objects.get(pk=channel.pk).name == "kept"


def test_invalid_values_are_refused_before_saving():
    channel = ChannelFactory(title="Fine")
    with pytest.raises(ValidationError) as raised:
        model_update(instance=channel, fields=["title"], data={"title": "x" * 121})
    assert "title" in raised.value.message_dict
    assert Channel.objects.get(pk=channel.pk).title == "Fine"


def test_auto_now_fields_move_with_a_change():
    profile = Profile.objects.create(user=UserFactory())
    before = profile.updated_at
    model_update(instance=profile, fields=["bio"], data={"bio": "Hello"})
    assert Profile.objects.get(pk=profile.pk).updated_at > before


def test_texts_given_strips_and_drops_the_missing():
    assert texts_given(title="  Hi ", description=None, bio="") == {"title": "Hi", "bio": ""}
