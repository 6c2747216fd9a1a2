from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.factories import TEST_PASSWORD, UserFactory

LOGIN = "/api/auth/login"
WRONG_CREDENTIALS = {"detail": "The username or password is incorrect.", "code": "invalid_credentials"}

pytestmark = pytest.mark.django_db


def _login(client, username, password=TEST_PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, format="json", **extra)


def test_login_returns_a_token_pair_for_the_user(api_client, user):
    response = _login(api_client, user.username)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert AccessToken(body["access"])["user_id"] == str(user.id)
    assert RefreshToken(body["refresh"])["user_id"] == str(user.id)
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_sets_httponly_lax_cookies_with_the_token_lifetimes(api_client, user):
    response = _login(api_client, user.username)

    access = response.cookies[settings.JWT_COOKIE_ACCESS]
    refresh = response.cookies[settings.JWT_COOKIE_REFRESH]
    assert access.value == response.json()["access"]
    assert refresh.value == response.json()["refresh"]
    for cookie in (access, refresh):
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert not cookie["secure"]
    assert access["path"] == "/"
    assert refresh["path"] == settings.JWT_COOKIE_REFRESH_PATH
    assert int(access["max-age"]) == jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()
    assert int(refresh["max-age"]) == jwt_settings.REFRESH_TOKEN_LIFETIME.total_seconds()


def test_login_sets_the_csrf_cookie_for_later_cookie_requests(api_client, user):
    response = _login(api_client, user.username)

    assert response.cookies[settings.CSRF_COOKIE_NAME].value


def test_login_over_https_marks_the_cookies_secure(user):
    client = APIClient()

    response = _login(client, user.username, secure=True)

    assert response.status_code == 200
    assert response.cookies[settings.JWT_COOKIE_ACCESS]["secure"] is True
    assert response.cookies[settings.JWT_COOKIE_REFRESH]["secure"] is True


def test_login_ignores_the_case_of_the_username(api_client):
    UserFactory(username="Alice")

    assert _login(api_client, "aLiCe").status_code == 200


def test_wrong_password_is_401_with_the_generic_message(api_client, user):
    response = _login(api_client, user.username, password="not-the-password")

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert settings.JWT_COOKIE_ACCESS not in response.cookies


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(api_client, user):
    unknown = _login(api_client, "nobody-by-that-name")
    wrong_password = _login(api_client, user.username, password="not-the-password")

    assert unknown.status_code == wrong_password.status_code == 401
    assert unknown.json() == wrong_password.json() == WRONG_CREDENTIALS


def test_inactive_user_is_refused_with_the_same_message(api_client):
    inactive = UserFactory(is_active=False)

    response = _login(api_client, inactive.username)

    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "alice"}, {"password": TEST_PASSWORD}, {"username": ["a"], "password": "x"}],
)
def test_login_refuses_missing_or_wrongly_typed_fields(api_client, body):
    response = api_client.post(LOGIN, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_login_refuses_malformed_json(api_client):
    response = api_client.post(LOGIN, data="{not json", content_type="application/json")

    assert response.status_code == 400


def test_repeated_failures_lock_the_username_even_for_the_right_password(api_client, user):
    for _ in range(5):
        assert _login(api_client, user.username, password="guess").status_code == 401

    locked = _login(api_client, user.username)
    # The lock is on the account, whichever address the next attempt comes from.
    from_elsewhere = _login(APIClient(), user.username.upper(), REMOTE_ADDR="198.51.100.7")

    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert 0 < int(locked["Retry-After"]) <= 300
    assert settings.JWT_COOKIE_ACCESS not in locked.cookies
    assert from_elsewhere.status_code == 429


def test_unknown_usernames_are_locked_like_real_ones(api_client):
    for _ in range(5):
        assert _login(api_client, "ghost").status_code == 401

    assert _login(api_client, "ghost").status_code == 429


def test_repeated_failures_from_one_address_lock_that_address(api_client, user):
    # Four guesses for each of five names: no name is locked, the address is (20 per 5 minutes).
    for name in ("a1", "a2", "a3", "a4", "a5"):
        for _ in range(4):
            assert _login(api_client, name, password="guess").status_code == 401

    from_that_address = _login(api_client, user.username)
    from_another = _login(api_client, user.username, REMOTE_ADDR="203.0.113.5")

    assert from_that_address.status_code == 429
    assert from_another.status_code == 200


def test_forwarded_for_header_does_not_escape_the_address_lock(api_client):
    for attempt in range(20):
        _login(api_client, f"name{attempt % 5}", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}")

    assert _login(api_client, "fresh-name", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_a_successful_login_clears_the_failures_of_that_username(api_client, user):
    for _ in range(4):
        _login(api_client, user.username, password="guess")
    assert _login(api_client, user.username).status_code == 200

    for _ in range(4):
        assert _login(api_client, user.username, password="guess").status_code == 401
    assert _login(api_client, user.username).status_code == 200
