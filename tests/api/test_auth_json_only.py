"""Sign-in and sign-up take JSON only: a cross-site form cannot log a browser into another account."""

from __future__ import annotations

import json

import pytest

from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

FORM_BODIES = [
    ("application/x-www-form-urlencoded", "username={username}&password={password}"),
    (
        "multipart/form-data; boundary=b",
        '--b\r\nContent-Disposition: form-data; name="username"\r\n\r\n{username}\r\n--b--\r\n',
    ),
    ("text/plain", '{{"username": "{username}", "password": "{password}"}}'),
]


@pytest.mark.parametrize(("content_type", "template"), FORM_BODIES)
def test_login_refuses_form_bodies_with_415(api_client, content_type, template):
    user = UserFactory()
    body = template.format(username=user.username, password=TEST_PASSWORD)

    response = api_client.generic("POST", "/api/auth/login", body, content_type=content_type)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert "access_token" not in response.cookies


@pytest.mark.parametrize(("content_type", "template"), FORM_BODIES)
def test_signup_refuses_form_bodies_with_415(api_client, content_type, template):
    body = template.format(username="mallory", password=TEST_PASSWORD)

    response = api_client.generic("POST", "/api/auth/signup", body, content_type=content_type)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_json_login_still_signs_in(api_client):
    user = UserFactory()
    body = json.dumps({"username": user.username, "password": TEST_PASSWORD})

    response = api_client.generic("POST", "/api/auth/login", body, content_type="application/json")

    assert response.status_code == 200
    assert "access_token" in response.cookies
