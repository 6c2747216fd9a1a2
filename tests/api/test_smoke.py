import pytest


@pytest.mark.django_db
def test_openapi_docs_render(api_client):
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.django_db
def test_schema_is_served(api_client):
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content
