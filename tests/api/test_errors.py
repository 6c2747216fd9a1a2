import pytest
from django.test import Client

from api.core.errors import DomainError, NotFound, TooManyRequests
from api.core.exceptions import exception_handler


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/no-such-endpoint", "/api/videos/a/b/c", "/api/channels/x/y"])
def test_unknown_api_paths_are_json_404(path):
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_malformed_json_is_400_json(auth_client):
    response = auth_client.generic("POST", "/api/user/channel", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


class _Denied(DomainError):
    status_code = 403
    code = "denied"
    body_extra = {"allow": False}


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (NotFound("Gone."), 404, {"detail": "Gone.", "code": "not_found"}),
        (DomainError("Bad.", code="bad_input"), 400, {"detail": "Bad.", "code": "bad_input"}),
        (_Denied("No."), 403, {"detail": "No.", "code": "denied", "allow": False}),
    ],
)
def test_domain_errors_become_json_in_the_one_handler(error, status, body):
    response = exception_handler(error, {})
    assert response.status_code == status
    assert response.data == body
    assert not response.has_header("Retry-After")


def test_a_domain_error_with_a_wait_is_a_429_with_retry_after():
    response = exception_handler(TooManyRequests("Slow down.", retry_after=42), {})
    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.data["code"] == "throttled"
    assert response.data["detail"].startswith("Slow down.")
