import pytest
from django.test import Client


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
