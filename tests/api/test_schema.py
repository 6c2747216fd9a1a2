"""The OpenAPI schema tells the truth: statuses, the error body, constraints, media types, and the
internal hooks kept out of the public schema. The live counterpart is test_schema_live.py."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.channels.models import Channel
from tests.factories import UserFactory

ERROR_REF = "#/components/schemas/Error"

# Every status each public operation can answer with.
EXPECTED_STATUSES = {
    ("post", "/api/auth/signup"): {"201", "400", "415", "429"},
    ("post", "/api/auth/login"): {"200", "400", "401", "415", "429"},
    ("post", "/api/auth/refresh"): {"200", "400", "401", "403", "415"},
    ("post", "/api/auth/logout"): {"204", "400", "403", "415"},
    ("get", "/api/user/profile"): {"200", "401"},
    ("get", "/api/user/usage"): {"200", "401"},
    ("patch", "/api/user/profile"): {"200", "400", "401", "403", "415"},
    ("put", "/api/user/profile/picture"): {"202", "400", "401", "403", "415", "503"},
    ("get", "/api/user/channel"): {"200", "401", "404"},
    ("post", "/api/user/channel"): {"201", "400", "401", "403", "409", "415"},
    ("patch", "/api/user/channel"): {"200", "400", "401", "403", "404", "415"},
    ("post", "/api/user/channel/stream-key"): {"200", "401", "403", "404"},
    ("get", "/api/user/channel/videos"): {"200", "400", "401", "404"},
    ("post", "/api/user/channel/videos"): {"201", "400", "401", "403", "404", "415"},
    ("get", "/api/user/channel/videos/{url}"): {"200", "401", "404"},
    ("patch", "/api/user/channel/videos/{url}"): {"200", "400", "401", "403", "404", "415"},
    ("delete", "/api/user/channel/videos/{url}"): {"204", "401", "403", "404", "409"},
    ("get", "/api/user/activity"): {"200", "400", "401", "404"},
    ("get", "/api/user/webhooks"): {"200", "401"},
    ("post", "/api/user/webhooks"): {"201", "400", "401", "403", "409", "415"},
    ("delete", "/api/user/webhooks/{webhook_id}"): {"204", "401", "403", "404"},
    ("get", "/api/user/webhooks/{webhook_id}/deliveries"): {"200", "400", "401", "404"},
    ("get", "/api/channels/"): {"200", "400", "404"},
    ("get", "/api/channels/{name}"): {"200", "404"},
    ("get", "/api/videos/"): {"200", "400", "404"},
    ("get", "/api/videos/{url}"): {"200", "404"},
    ("post", "/api/videos/{url}/playback-token"): {"200", "404"},
    ("get", "/api/videos/{url}/comments"): {"200", "400", "404"},
    ("post", "/api/videos/{url}/comments"): {"201", "400", "401", "403", "404", "415", "429"},
    ("delete", "/api/videos/{url}/comments/{comment_id}"): {"204", "401", "403", "404"},
    ("get", "/api/user/channel/destinations"): {"200", "401", "404"},
    ("post", "/api/user/channel/destinations"): {"201", "400", "401", "403", "404", "409", "415"},
    ("patch", "/api/user/channel/destinations/{destination_id}"): {"200", "400", "401", "403", "404", "415"},
    ("delete", "/api/user/channel/destinations/{destination_id}"): {"204", "401", "403", "404"},
    ("post", "/api/uploads/"): {"201", "400", "401", "403", "409", "412", "413"},
    ("patch", "/api/uploads/{id}"): {"204", "400", "401", "403", "404", "409", "410", "411", "412", "415"},
    ("delete", "/api/uploads/{id}"): {"204", "401", "403", "404", "409", "412"},
}


@pytest.fixture
def schema(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def ingest_client(settings) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    return client


def _operations(schema):
    return {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def _request_schema(schema, method, path, media_type="application/json"):
    body = schema["paths"][path][method]["requestBody"]["content"][media_type]["schema"]
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]


@pytest.mark.django_db
def test_every_operation_documents_every_status_it_answers_with(schema):
    documented = {key: set(operation["responses"]) for key, operation in _operations(schema).items()}
    assert documented == {key: {*statuses, "406"} for key, statuses in EXPECTED_STATUSES.items()}


@pytest.mark.django_db
def test_every_error_status_has_the_shared_error_body(schema):
    for (method, path), operation in _operations(schema).items():
        for status, response in operation["responses"].items():
            if status < "400":
                continue
            body = response["content"]["application/json"]["schema"]
            assert body == {"$ref": ERROR_REF}, (method, path, status)
            assert response["description"], (method, path, status)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"detail", "code", "errors"}
    assert set(error["required"]) == {"detail", "code"}


@pytest.mark.django_db
def test_the_documented_error_body_is_what_the_api_answers(auth_client, schema):
    body = auth_client.post("/api/user/channel", {"title": 5}, format="json").json()
    assert set(body) <= set(schema["components"]["schemas"]["Error"]["properties"])
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"name", "title"}


@pytest.mark.django_db
def test_a_body_django_refuses_before_the_view_is_a_json_400(auth_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = auth_client.post("/api/user/channel/videos", {"title": "x" * 2048})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


@pytest.mark.django_db
def test_an_accept_header_without_json_is_406(auth_client):
    response = auth_client.get("/api/user/profile", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


@pytest.mark.django_db
def test_the_public_schema_has_no_internal_hook(schema):
    assert not [path for path in schema["paths"] if path.startswith("/api/internal/")]
    assert "IngestSecret" not in schema["components"].get("securitySchemes", {})


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "wrong"])
def test_the_internal_schema_needs_the_ingest_secret(api_client, secret):
    if secret is not None:
        api_client.credentials(HTTP_X_INGEST_SECRET=secret)
    assert api_client.get("/api/internal/schema/").status_code == 403


@pytest.mark.django_db
def test_the_internal_schema_is_valid_and_holds_only_the_hooks(ingest_client):
    internal = ingest_client.get("/api/internal/schema/?format=json").json()
    validate_schema(internal)
    assert sorted(internal["paths"]) == [
        "/api/internal/egress",
        "/api/internal/publish/authorize",
        "/api/internal/publish/end",
        "/api/internal/publish/heartbeat",
        "/api/internal/storage/state",
        "/api/internal/storage/stored",
        "/api/internal/viewers",
    ]
    authorize = internal["paths"]["/api/internal/publish/authorize"]["post"]["responses"]
    assert {"200", "400", "403", "415", "429"} <= set(authorize)
    denial = internal["components"]["schemas"]["PublishDenial"]
    # A refused secret answers {"detail", "code"}: the denial body must not require `allow`.
    assert "allow" not in denial.get("required", [])


@pytest.mark.django_db
def test_a_refused_secret_matches_the_documented_denial(api_client, ingest_client):
    internal = ingest_client.get("/api/internal/schema/?format=json").json()
    denial = internal["components"]["schemas"]["PublishDenial"]
    api_client.credentials(HTTP_X_INGEST_SECRET="wrong")
    body = api_client.post(
        "/api/internal/publish/authorize", {"stream_key": "x", "client_ip": "127.0.0.1"}, format="json"
    ).json()
    assert set(denial["required"]) <= set(body)


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["", "0", "-1", "abc", "1.5", "01", "last", " 1"])
@pytest.mark.parametrize("path", ["/api/videos/", "/api/channels/"])
def test_a_page_that_is_not_a_whole_number_from_1_is_400(api_client, path, page):
    response = api_client.get(path, {"page": page})
    assert response.status_code == 400
    assert "page" in response.json()["errors"]


@pytest.mark.django_db
def test_a_page_past_the_end_is_404_and_page_1_is_200(api_client, schema):
    assert api_client.get("/api/videos/", {"page": "1"}).status_code == 200
    assert api_client.get("/api/videos/").status_code == 200
    assert api_client.get("/api/videos/", {"page": "2"}).status_code == 404
    (page,) = schema["paths"]["/api/videos/"]["get"]["parameters"][:1]
    assert page["name"] == "page"
    assert page["schema"]["type"] == "integer"
    assert page["schema"]["minimum"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "content_type", "data"),
    [
        ("/api/auth/login", "post", "application/x-www-form-urlencoded", "username=a&password=b"),
        ("/api/user/channel", "post", "application/x-www-form-urlencoded", "name=abc&title=T"),
        ("/api/user/profile", "patch", "multipart/form-data; boundary=x", "--x--"),
        ("/api/user/profile/picture", "put", "application/json", "{}"),
    ],
)
def test_undocumented_media_types_are_415(auth_client, schema, path, method, content_type, data):
    accepted = schema["paths"][path][method]["requestBody"]["content"]
    assert content_type.split(";")[0] not in accepted
    response = getattr(auth_client, method)(path, data=data, content_type=content_type)
    assert response.status_code == 415


@pytest.mark.django_db
def test_documented_media_types(schema):
    def media(method, path):
        return set(schema["paths"][path][method]["requestBody"]["content"])

    assert media("post", "/api/auth/login") == {"application/json"}
    assert media("put", "/api/user/profile/picture") == {"multipart/form-data"}
    assert media("post", "/api/user/channel/videos") == {"multipart/form-data", "application/json"}


@pytest.mark.django_db
def test_files_are_binary(schema):
    picture = _request_schema(schema, "put", "/api/user/profile/picture", "multipart/form-data")
    assert picture["properties"]["image"] == {"type": "string", "format": "binary"}
    video = _request_schema(schema, "post", "/api/user/channel/videos", "multipart/form-data")
    assert video["properties"]["thumbnail"]["format"] == "binary"
    json_video = _request_schema(schema, "post", "/api/user/channel/videos")
    assert "thumbnail" not in json_video["properties"]


@pytest.mark.django_db
def test_the_password_rules_are_in_the_schema(schema):
    password = _request_schema(schema, "post", "/api/auth/signup")["properties"]["password"]
    assert password["minLength"] == 8
    assert password["maxLength"] == 256
    assert re.search(password["pattern"], "12345678") is None
    assert re.search(password["pattern"], "1234567a") is not None
    assert "commonly used" in password["description"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["tide-pool", "Tide_Pool", "ab", "x" * 50, "a", "x" * 51, "-lead", "trail-", "has space",
             " padded", "ünï", "semi;colon", ""],
)  # fmt: skip
def test_the_channel_name_pattern_is_what_the_api_accepts(schema, name):
    field = _request_schema(schema, "post", "/api/user/channel")["properties"]["name"]
    valid_by_schema = (
        re.search(field["pattern"], name) is not None
        and field["minLength"] <= len(name) <= field["maxLength"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(UserFactory()).access_token}")
    response = client.post("/api/user/channel", {"name": name, "title": "T"}, format="json")
    assert (response.status_code == 201) == valid_by_schema, response.json()
    if valid_by_schema:
        assert Channel.objects.get().name == name.lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/user/channel", "post", {"name": "ok-name", "title": 5}),
        ("/api/user/channel", "post", {"name": 12, "title": "T"}),
        ("/api/user/channel", "post", {"name": "ok-name", "title": "T", "description": 1.5}),
        ("/api/user/profile", "patch", {"bio": 7}),
        ("/api/user/channel/videos", "post", {"title": 3}),
    ],
)
def test_a_number_is_not_a_string(auth_client, path, method, body):
    if path == "/api/user/channel/videos":
        auth_client.post("/api/user/channel", {"name": "mine", "title": "T"}, format="json")
    response = getattr(auth_client, method)(path, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) & set(body)


@pytest.mark.django_db
def test_strings_state_what_drf_refuses(schema, auth_client):
    channel = _request_schema(schema, "post", "/api/user/channel")["properties"]
    title, description = channel["title"], channel["description"]
    assert title["minLength"] == 1
    for refused in ("", "   ", "a\x00b"):
        assert re.search(title["pattern"], refused) is None, repr(refused)
        response = auth_client.post("/api/user/channel", {"name": "ok-name", "title": refused}, format="json")
        assert response.status_code == 400, repr(refused)
    assert re.search(description["pattern"], "") is not None
    assert re.search(description["pattern"], "\x00") is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/videos/?search=a%00b", 400),
        ("/api/channels/a%00b", 404),
        ("/api/videos/abcdefgh%0012345678", 404),
        ("/api/videos/ABCDEFGH12345678", 404),
        ("/api/channels/-x-", 404),
    ],
)
def test_what_the_parameter_patterns_refuse_is_refused_before_any_lookup(
    api_client, django_assert_num_queries, path, status
):
    with django_assert_num_queries(0):
        response = api_client.get(path)
    assert response.status_code == status
    assert response.json()["code"] in ("invalid", "not_found")


@pytest.mark.django_db
def test_the_path_and_search_parameters_state_their_patterns(schema):
    def parameter(path, name):
        (found,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
        return found["schema"]

    assert parameter("/api/videos/{url}", "url")["pattern"] == "^[a-z0-9]{16}$"
    name_pattern = parameter("/api/channels/{name}", "name")["pattern"]
    assert re.search(name_pattern, "Tide-Pool")
    assert not re.search(name_pattern, "tide pool")
    assert not re.search(parameter("/api/videos/", "search")["pattern"], "a\x00b")
