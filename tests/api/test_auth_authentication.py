"""Access-token authentication on a protected endpoint: header or cookie, CSRF, forged tokens."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.factories import TEST_PASSWORD, UserFactory


class ProtectedView(APIView):
    """Default authentication and permission classes, as every protected endpoint has."""

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.username})

    def post(self, request: Request) -> Response:
        return Response({"username": request.user.username})


PROTECTED = "/protected"
urlpatterns = [
    path("api/", include("api.users.urls")),
    path("protected", ProtectedView.as_view()),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user) -> dict:
    return dict(AccessToken.for_user(user).payload)


def _login(client, user):
    response = client.post(
        "/api/auth/login", {"username": user.username, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return response.json()


def _assert_refused(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"]


def test_no_credentials_is_401(api_client):
    _assert_refused(api_client.get(PROTECTED))


def test_access_token_in_the_header(api_client, user):
    response = api_client.get(PROTECTED, **_bearer(str(AccessToken.for_user(user))))

    assert response.status_code == 200
    assert response.json() == {"username": user.username}


def test_header_authenticated_post_needs_no_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)

    response = client.post(PROTECTED, {}, format="json", **_bearer(str(AccessToken.for_user(user))))

    assert response.status_code == 200


def test_access_token_cookie_after_login(user):
    client = APIClient(enforce_csrf_checks=True)
    _login(client, user)

    response = client.get(PROTECTED)

    assert response.status_code == 200
    assert response.json() == {"username": user.username}


def test_cookie_authenticated_post_without_csrf_token_is_403(user):
    client = APIClient(enforce_csrf_checks=True)
    _login(client, user)

    response = client.post(PROTECTED, {}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_cookie_authenticated_post_with_a_wrong_csrf_token_is_403(user):
    client = APIClient(enforce_csrf_checks=True)
    _login(client, user)

    response = client.post(PROTECTED, {}, format="json", HTTP_X_CSRFTOKEN="x" * 32)

    assert response.status_code == 403


def test_cookie_authenticated_post_with_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    _login(client, user)
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(PROTECTED, {}, format="json", HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 200


def test_alg_none_token_is_401(api_client, user):
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."

    _assert_refused(api_client.get(PROTECTED, **_bearer(unsigned)))
    api_client.cookies[settings.JWT_COOKIE_ACCESS] = unsigned
    _assert_refused(api_client.get(PROTECTED))


def test_token_signed_with_another_secret_is_401(api_client, user):
    forged = jwt.encode(_claims(user), "another-secret-of-at-least-32-bytes!", algorithm="HS256")

    _assert_refused(api_client.get(PROTECTED, **_bearer(forged)))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_only_the_pinned_algorithm_is_accepted(api_client, user):
    # The right secret, another HMAC algorithm: refused all the same.
    other_algorithm = jwt.encode(_claims(user), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")

    _assert_refused(api_client.get(PROTECTED, **_bearer(other_algorithm)))


def test_expired_token_is_401(api_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-1))

    _assert_refused(api_client.get(PROTECTED, **_bearer(str(token))))
    api_client.cookies[settings.JWT_COOKIE_ACCESS] = str(token)
    _assert_refused(api_client.get(PROTECTED))


def test_refresh_token_is_not_an_access_token(api_client, user):
    _assert_refused(api_client.get(PROTECTED, **_bearer(str(RefreshToken.for_user(user)))))


def test_tampered_claims_are_401(api_client, user):
    header, _, signature = str(AccessToken.for_user(user)).split(".")
    other = UserFactory()
    tampered = f"{header}.{_b64({**_claims(user), 'user_id': str(other.id)})}.{signature}"

    _assert_refused(api_client.get(PROTECTED, **_bearer(tampered)))


def test_garbage_token_is_401(api_client):
    _assert_refused(api_client.get(PROTECTED, **_bearer("garbage")))


def test_inactive_user_is_401(api_client):
    inactive = UserFactory(is_active=False)

    _assert_refused(api_client.get(PROTECTED, **_bearer(str(AccessToken.for_user(inactive)))))


def test_a_stale_access_cookie_does_not_block_login(user):
    client = APIClient(enforce_csrf_checks=True)
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=timedelta(seconds=-1))
    client.cookies[settings.JWT_COOKIE_ACCESS] = str(expired)

    _login(client, user)

    assert client.get(PROTECTED).status_code == 200
