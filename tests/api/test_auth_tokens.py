"""Refresh-token rotation and logout, by body and by cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from api.users.errors import InvalidRefreshToken
from api.users.services import refresh_token_rotate
from tests.factories import TEST_PASSWORD

LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"

pytestmark = pytest.mark.django_db


def _login(client, user):
    response = client.post(LOGIN, {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def _csrf_header(client):
    return {"HTTP_X_CSRFTOKEN": client.cookies[settings.CSRF_COOKIE_NAME].value}


def test_refresh_returns_a_new_pair_and_cookies(api_client, user):
    tokens = _login(api_client, user)

    response = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != tokens["refresh"]
    assert AccessToken(body["access"])["user_id"] == str(user.id)
    assert response.cookies[settings.JWT_COOKIE_ACCESS].value == body["access"]
    assert response.cookies[settings.JWT_COOKIE_REFRESH].value == body["refresh"]
    assert response.cookies[settings.JWT_COOKIE_REFRESH]["httponly"] is True


def test_reusing_a_rotated_refresh_token_is_401(api_client, user):
    old = _login(api_client, user)["refresh"]
    new = api_client.post(REFRESH, {"refresh": old}, format="json").json()["refresh"]

    reuse = api_client.post(REFRESH, {"refresh": old}, format="json")

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_not_valid"
    assert reuse["WWW-Authenticate"].startswith("Bearer")
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(new)["jti"]).count() == 0
    # The rotated token keeps working exactly once.
    assert api_client.post(REFRESH, {"refresh": new}, format="json").status_code == 200
    assert api_client.post(REFRESH, {"refresh": new}, format="json").status_code == 401


def test_refresh_from_the_cookie_with_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    old = _login(client, user)["refresh"]

    response = client.post(REFRESH, format="json", **_csrf_header(client))

    assert response.status_code == 200
    assert response.json()["refresh"] != old
    assert client.cookies[settings.JWT_COOKIE_REFRESH].value == response.json()["refresh"]
    assert client.post(REFRESH, {"refresh": old}, format="json").status_code == 401


def test_refresh_from_the_cookie_without_the_csrf_token_is_403(user):
    client = APIClient(enforce_csrf_checks=True)
    old = _login(client, user)["refresh"]

    response = client.post(REFRESH, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    # Nothing was rotated: the token still works.
    assert client.post(REFRESH, {"refresh": old}, format="json").status_code == 200


def test_refresh_in_the_body_needs_no_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    tokens = _login(APIClient(), user)

    assert client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200


def test_refresh_without_any_token_is_400(api_client):
    response = api_client.post(REFRESH, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"refresh"}


@pytest.mark.parametrize("body", [{"refresh": ["a"]}, {"refresh": {"a": 1}}])
def test_refresh_with_a_wrongly_typed_token_is_400(api_client, body):
    assert api_client.post(REFRESH, body, format="json").status_code == 400


def test_refresh_with_malformed_json_is_400(api_client):
    assert api_client.post(REFRESH, data="{", content_type="application/json").status_code == 400


def test_refresh_with_garbage_is_401(api_client):
    response = api_client.post(REFRESH, {"refresh": "not.a.token"}, format="json")

    assert response.status_code == 401


def test_an_access_token_is_not_a_refresh_token(api_client, user):
    access = _login(api_client, user)["access"]

    assert api_client.post(REFRESH, {"refresh": access}, format="json").status_code == 401


def test_an_expired_refresh_token_is_401(api_client, user):
    refresh = RefreshToken.for_user(user)
    refresh.set_exp(lifetime=timedelta(seconds=-1))

    assert api_client.post(REFRESH, {"refresh": str(refresh)}, format="json").status_code == 401


def test_an_inactive_user_cannot_refresh(api_client, user):
    refresh = _login(api_client, user)["refresh"]
    user.is_active = False
    user.save()

    assert api_client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 401


def test_a_deleted_user_cannot_refresh(api_client, user):
    refresh = _login(api_client, user)["refresh"]
    user.delete()

    assert api_client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 401


def test_logout_blacklists_the_refresh_token_and_clears_the_cookies(api_client, user):
    refresh = _login(api_client, user)["refresh"]

    response = api_client.post(LOGOUT, {"refresh": refresh}, format="json")

    assert response.status_code == 204
    for name, path in (
        (settings.JWT_COOKIE_ACCESS, "/"),
        (settings.JWT_COOKIE_REFRESH, settings.JWT_COOKIE_REFRESH_PATH),
    ):
        cookie = response.cookies[name]
        assert cookie.value == ""
        assert cookie["max-age"] == 0
        assert cookie["path"] == path
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).exists()
    assert api_client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 401


def test_logout_by_cookie_with_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    refresh = _login(client, user)["refresh"]

    response = client.post(LOGOUT, format="json", **_csrf_header(client))

    assert response.status_code == 204
    assert client.cookies[settings.JWT_COOKIE_REFRESH].value == ""
    assert client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 401


def test_logout_by_cookie_without_the_csrf_token_is_403(user):
    client = APIClient(enforce_csrf_checks=True)
    refresh = _login(client, user)["refresh"]

    response = client.post(LOGOUT, format="json")

    assert response.status_code == 403
    assert client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 200


def test_logout_without_any_token_is_400(api_client):
    assert api_client.post(LOGOUT, {}, format="json").status_code == 400


def test_logout_with_an_unusable_token_still_clears_the_cookies(api_client):
    response = api_client.post(LOGOUT, {"refresh": "not.a.token"}, format="json")

    assert response.status_code == 204
    assert response.cookies[settings.JWT_COOKIE_ACCESS]["max-age"] == 0


def test_two_racing_rotations_of_one_token_yield_one_new_pair(user, monkeypatch):
    """Both requests pass the blacklist lookup before either commits; the unique blacklist row
    still lets only one of them through."""
    raw = str(RefreshToken.for_user(user))
    monkeypatch.setattr(RefreshToken, "check_blacklist", lambda self: None)

    refresh_token_rotate(raw_refresh=raw)
    with pytest.raises(InvalidRefreshToken):
        refresh_token_rotate(raw_refresh=raw)
