"""A browser's whole session against a real protected endpoint, by cookies alone."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import TEST_PASSWORD

PROFILE = "/api/user/profile"


@pytest.mark.django_db
def test_signup_login_use_refresh_and_logout_by_cookie():
    browser = APIClient(enforce_csrf_checks=True)
    credentials = {"username": "carol", "password": TEST_PASSWORD}

    assert browser.get(PROFILE).status_code == 401
    signup = browser.post("/api/auth/signup", {**credentials, "email": "carol@example.com"}, format="json")
    assert signup.status_code == 201
    assert browser.post("/api/auth/login", credentials, format="json").status_code == 200
    csrf = {"HTTP_X_CSRFTOKEN": browser.cookies[settings.CSRF_COOKIE_NAME].value}

    assert browser.get(PROFILE).status_code == 200
    assert browser.patch(PROFILE, {"bio": "hello"}, format="json").status_code == 403
    assert browser.patch(PROFILE, {"bio": "hello"}, format="json", **csrf).status_code == 200

    assert browser.post("/api/auth/refresh", format="json", **csrf).status_code == 200
    assert browser.get(PROFILE).status_code == 200

    assert browser.post("/api/auth/logout", format="json", **csrf).status_code == 204
    assert browser.get(PROFILE).status_code == 401
    assert browser.post("/api/auth/refresh", format="json", **csrf).status_code == 400
