"""The public schema against the real API: schemathesis with every check, and a client generated from
the schema signing up and in. Both talk to gunicorn on a database of its own: PostgreSQL when
DATABASE_URL points there (CI), else a temporary SQLite file."""

from __future__ import annotations

import importlib
import json
import re
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.gunicorn_api import api_environment, gunicorn_api, post_json
from tests.scratch_database import scratch_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "schema-correct-horse-battery"
SEED = 20261201
# Enough for every operation to be reached in each phase, and the whole run well under 3 minutes.
MAX_EXAMPLES = 40
SCHEMATHESIS_SECONDS = 170


@dataclass(frozen=True)
class LiveApi:
    url: str
    token: str
    channel: str
    video_url: str
    log: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http URL
            return json.loads(response.read() or b"null")


def _recorded_video(url: str, *, stream_key: str, ingest_secret: str) -> str:
    """A stream started and ended through the ingest's hooks: a public video with a recording."""
    hooks = {"X-Ingest-Secret": ingest_secret}
    grant = post_json(
        f"{url}/api/internal/publish/authorize",
        {"stream_key": stream_key, "client_ip": "127.0.0.1"},
        headers=hooks,
    )
    post_json(f"{url}/api/internal/publish/end", {"publish_id": grant["publish_id"]}, headers=hooks)
    return str(grant["video_url"])


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data_dir = tmp_path_factory.mktemp("schema-live")
    database_url, drop_database = scratch_database("schemathesis", data_dir / "schema.sqlite3")
    env = api_environment(
        database_url=database_url,
        data_dir=data_dir,
        INGEST_SHARED_SECRET=secrets.token_urlsafe(32),
        # Generated sign-ups and failed sign-ins by the thousand: the limits stay out of the way
        # (their 429 is documented and accepted, but would hide every other answer).
        THROTTLE_SIGNUP="100000/hour",
        THROTTLE_LOGIN_FAILURES="100000/5m",
        THROTTLE_LOGIN_FAILURES_IP="100000/5m",
    )
    log = data_dir / "gunicorn.log"
    options = [
        "--workers", "2", "--timeout", "30", "--graceful-timeout", "5",
        # As nginx's 8 KiB header buffers in front of it in production (gunicorn: 4 KiB).
        "--limit-request-line", "8190",
    ]  # fmt: skip
    try:
        with gunicorn_api(env, log=log, options=options) as url:
            post_json(
                f"{url}/api/auth/signup",
                {"username": "tester", "email": "tester@example.com", "password": PASSWORD},
            )
            token = post_json(f"{url}/api/auth/login", {"username": "tester", "password": PASSWORD})["access"]
            channel = post_json(f"{url}/api/user/channel", {"name": "tester", "title": "Test channel"}, token)
            stream_key = channel["stream_key"]
            video_url = _recorded_video(url, stream_key=stream_key, ingest_secret=env["INGEST_SHARED_SECRET"])
            yield LiveApi(url=url, token=token, channel=channel["name"], video_url=video_url, log=log)
    finally:
        drop_database()


SCHEMATHESIS_CONFIG = """
# Existing resources, so the operations on them get past 404.
[parameters]
name = "{channel}"
url = "{video_url}"

# Error feedback reads a 400's `errors` as a foreign validation envelope and sends bodies that are
# valid (an extra property) as if they broke the schema.
[phases.fuzzing.error-feedback]
enabled = false

# Valid by the schema and still refused (400), for rules no schema can state: a username or
# email that is already taken, a password Django finds too common or too close to the username.
[[operations]]
include-name = "POST /api/auth/signup"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "429"]

# A URL of the schema's shape whose address webhooks are never sent to (a cloud metadata address;
# any private one when WEBHOOK_ALLOW_PRIVATE_TARGETS is off) is refused (400).
[[operations]]
include-name = "POST /api/user/webhooks"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "409"]

# Any bytes are a valid `format: binary` file, but only a JPEG, PNG, WebP or GIF is a picture (400).
[[operations]]
include-name-regex = "^(PUT /api/user/profile/picture|POST /api/user/channel/videos)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

# tus: another Tus-Resumable is 412, as the protocol says (not 400); a length over the limits is 413.
[[operations]]
include-path-regex = "^/api/uploads/"
checks.negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "411", "412", "413", "415", "422", "428", "429"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "410", "413"]
checks.missing_required_header.expected-statuses = ["400", "401", "403", "404", "405", "406", "412", "422", "428"]

# A PATCH body is raw bytes (application/offset+octet-stream), which schemathesis cannot generate:
# tests/uploads/test_tus_http.py sends them with tuspy and by hand.
[[operations]]
include-name = "PATCH /api/uploads/{{id}}"
enabled = false
"""


def test_schemathesis_finds_nothing(live_api: LiveApi, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG.format(channel=live_api.channel, video_url=live_api.video_url))
    argv = [
        str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{live_api.url}/api/schema/",
        "--checks", "all", "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
        "--header", f"Authorization: Bearer {live_api.token}",
        # One worker: Hypothesis parses lambdas with ast.parse, which is not thread-safe on
        # Python 3.11 ("AST constructor recursion depth mismatch").
        "--workers", "1", "--request-timeout", "10", "--no-color",
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=SCHEMATHESIS_SECONDS, check=False
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    # Every operation of the schema was reached, not skipped (but the tus PATCH, disabled above).
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected is not None, report
    assert tested is not None, report
    assert int(selected.group(1)) == int(selected.group(2)) - 1 == int(tested.group(1)), report


def test_generated_client_signs_up_and_in(live_api: LiveApi, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    with urllib.request.urlopen(f"{live_api.url}/api/schema/?format=json", timeout=10) as response:  # noqa: S310
        schema.write_bytes(response.read())
    settings = tmp_path / "generator.json"
    settings.write_text(json.dumps({"post_hooks": []}))
    subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(schema), "--config", str(settings),
         "--output-path", str(tmp_path / "tidecast_client"), "--meta", "none"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("tidecast_client")
        signup = importlib.import_module("tidecast_client.api.auth.auth_signup")
        login = importlib.import_module("tidecast_client.api.auth.auth_login")
        channel_get = importlib.import_module("tidecast_client.api.channel.user_channel_retrieve")
        models = importlib.import_module("tidecast_client.models")

        client = client_module.Client(base_url=live_api.url, raise_on_unexpected_status=True)
        created = signup.sync(
            client=client,
            body=models.SignupInput(username="generated", email="generated@example.com", password=PASSWORD),
        )
        assert isinstance(created, models.SignupOutput)
        assert created.username == "generated"

        refused = login.sync(
            client=client, body=models.LoginInput(username="generated", password="wrong-one")
        )
        assert isinstance(refused, models.Error)
        assert refused.code == "invalid_credentials"

        tokens = login.sync(client=client, body=models.LoginInput(username="generated", password=PASSWORD))
        assert isinstance(tokens, models.TokenPairOutput)
        signed_in = client_module.AuthenticatedClient(base_url=live_api.url, token=tokens.access)
        no_channel = channel_get.sync_detailed(client=signed_in)
        assert no_channel.status_code == 404
        assert isinstance(no_channel.parsed, models.Error)
        assert no_channel.parsed.code == "no_channel"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [module for module in sys.modules if module.split(".")[0] == "tidecast_client"]:
            del sys.modules[name]
