from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.settings import api_settings

from api.users.models import User
from tests.factories import TEST_PASSWORD, UserFactory

SIGNUP = "/api/auth/signup"
LOGIN = "/api/auth/login"

pytestmark = pytest.mark.django_db


def _signup(client, **overrides):
    body = {"username": "alice", "email": "alice@example.com", "password": TEST_PASSWORD, **overrides}
    return client.post(SIGNUP, body, format="json")


def test_signup_creates_a_user_who_can_log_in(api_client):
    response = _signup(api_client)

    assert response.status_code == 201
    user = User.objects.get(username="alice")
    assert response.json() == {"id": user.id, "username": "alice", "email": "alice@example.com"}
    assert user.is_active
    assert user.password != TEST_PASSWORD
    assert user.check_password(TEST_PASSWORD)
    login = api_client.post(LOGIN, {"username": "alice", "password": TEST_PASSWORD}, format="json")
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("password", "expected_message"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83920174629", "entirely numeric"),
        ("alice1234", "too similar"),
    ],
)
def test_signup_refuses_weak_passwords_as_field_errors(api_client, password, expected_message):
    response = _signup(api_client, password=password)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"password"}
    assert any(expected_message in message for message in body["errors"]["password"])
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
def test_signup_refuses_a_username_taken_in_any_case(api_client, taken):
    UserFactory(username="alice", email="first@example.com")

    response = _signup(api_client, username=taken, email="second@example.com")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username"}
    assert User.objects.count() == 1


@pytest.mark.parametrize("taken", ["alice@example.com", "ALICE@Example.COM"])
def test_signup_refuses_an_email_taken_in_any_case(api_client, taken):
    UserFactory(username="first", email="alice@example.com")

    response = _signup(api_client, email=taken)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"email"}
    assert User.objects.count() == 1


def test_signup_reports_every_broken_rule_at_once(api_client):
    UserFactory(username="alice", email="alice@example.com")

    response = _signup(api_client, password="123")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "email", "password"}


def test_signup_refuses_malformed_json(api_client):
    response = api_client.post(SIGNUP, data='{"username": "alice",', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_signup_lists_every_missing_field(api_client):
    response = api_client.post(SIGNUP, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "email", "password"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", ["alice"]),
        ("username", {"name": "alice"}),
        ("username", True),
        ("username", "not a valid name!"),
        ("username", "a" * 151),
        ("email", "not-an-email"),
        ("email", 12345),
        ("password", {"secret": TEST_PASSWORD}),
        ("password", None),
        ("password", "x" * 257),
    ],
)
def test_signup_refuses_wrong_types_and_formats(api_client, field, value):
    response = _signup(api_client, **{field: value})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert User.objects.count() == 0


def test_signup_refuses_a_body_that_is_not_an_object(api_client):
    response = api_client.post(SIGNUP, ["alice", "alice@example.com"], format="json")

    assert response.status_code == 400
    assert User.objects.count() == 0


def test_signup_is_throttled_per_client_address(api_client):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "signup": "2/hour"}
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        assert _signup(api_client, username="u1", email="u1@example.com").status_code == 201
        assert _signup(api_client, username="u2", email="u2@example.com").status_code == 201
        throttled = _signup(api_client, username="u3", email="u3@example.com")
        elsewhere = api_client.post(
            SIGNUP,
            {"username": "u4", "email": "u4@example.com", "password": TEST_PASSWORD},
            format="json",
            REMOTE_ADDR="192.0.2.9",
        )

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert elsewhere.status_code == 201
    assert not User.objects.filter(username="u3").exists()


def _rest_framework():
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)
