"""The Compose deployment, checked without a Docker engine: `docker-compose config` (Debian's
docker-compose 1.29) renders the file with the example env file, and the result is read back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.servers import ACCESS_SCRIPT, NGINX_TEMPLATE, REPO, template_names

DOCKER = REPO / "docker"
SERVICES = {"postgres", "rabbitmq", "seaweedfs", "api", "ingest", "worker", "uploads", "beat", "hls", "nginx"}
TIDECAST_SERVICES = {"api", "ingest", "worker", "uploads", "beat", "hls"}
DJANGO_SERVICES = {"api", "worker", "uploads", "beat"}
SECRETS = (
    "SECRET_KEY",
    "INGEST_SHARED_SECRET",
    "HLS_REPORT_SECRET",
    "PLAYBACK_TOKEN_KEY",
    "POSTGRES_PASSWORD",
    "RABBITMQ_PASSWORD",
    "STORAGE_S3_ACCESS_KEY",
    "STORAGE_S3_SECRET_KEY",
)


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        raise RuntimeError("docker-compose is not installed: `make deploy-deps` installs it")
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """`docker-compose -f docker/compose.yaml --env-file docker/env.example config`, parsed.

    TIDECAST_ENV_FILE points the services' env_file at the example too: docker/.env holds a
    deployment's secrets and does not exist in a checkout.
    """
    result = subprocess.run(
        [
            docker_compose(),
            "-f",
            str(DOCKER / "compose.yaml"),
            "--env-file",
            str(DOCKER / "env.example"),
            "config",
        ],
        env={**os.environ, "TIDECAST_ENV_FILE": "env.example"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DOCKER / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each mount, from compose 1.29's short `src:dst:mode` form."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        mounts.append((source, target, mode == ["ro"]))
    return mounts


def test_every_service_is_there_and_restarts_unless_stopped(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name


def test_the_python_services_share_one_image_built_from_the_dockerfile(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    images = {services[name]["image"] for name in TIDECAST_SERVICES}
    assert len(images) == 1
    for name in TIDECAST_SERVICES:
        build = services[name]["build"]
        assert Path(build["context"]) == REPO
        assert (REPO / build["dockerfile"]).is_file()
    assert {services[name]["command"][0] for name in TIDECAST_SERVICES} == TIDECAST_SERVICES


def test_the_django_services_take_their_environment_from_the_env_file(rendered: dict[str, Any]) -> None:
    example = env_example()
    for name in DJANGO_SERVICES:
        environment = rendered["services"][name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "api.settings.production"
        for key in ("SECRET_KEY", "INGEST_SHARED_SECRET", "ALLOWED_HOSTS", "PUBLIC_HLS_URL", "NUM_PROXIES"):
            assert environment[key] == example[key], (name, key)
        assert environment["DATABASE_URL"].startswith("postgres://tidecast:")
        assert environment["DATABASE_URL"].endswith("@postgres:5432/tidecast")
        assert environment["CELERY_BROKER_URL"].endswith("@rabbitmq:5672//")
        assert environment["API_BASE_URL"] == "http://api:8000"


# What each service that is not Django may be given: its own settings and the wiring.
WIRING = {"API_BASE_URL", "TIDECAST_DATA_DIR", "HLS_ROOT", "LOG_FORMAT", "LOG_LEVEL"} | {
    "STORAGE_S3_ENDPOINT", "STORAGE_S3_BUCKET", "STORAGE_S3_ACCESS_KEY", "STORAGE_S3_SECRET_KEY",
    "STORAGE_S3_PUBLIC_URL",
}  # fmt: skip
INGEST_NAMES = WIRING | {"INGEST_SHARED_SECRET"} | {
    "RTMP_HOST", "RTMP_PORT", "RTMP_APP", "RTMP_HANDSHAKE_TIMEOUT", "RTMP_IDLE_TIMEOUT",
    "RTMP_MAX_CONNECTIONS", "RTMP_MAX_CONNECTIONS_PER_IP", "RTMP_REJECT_DELAY", "INGEST_API_TIMEOUT",
    "INGEST_HEARTBEAT_SECONDS", "INGEST_SHUTDOWN_GRACE", "INGEST_METRICS_HOST", "INGEST_METRICS_PORT",
    "STORAGE_LOCAL_GRACE_SECONDS",
    "RTMPS_PORT", "RTMPS_CERT_FILE", "RTMPS_KEY_FILE",
}  # fmt: skip
HLS_NAMES = WIRING | {"HLS_REPORT_SECRET", "PLAYBACK_TOKEN_KEY", "HLS_PRIVATE_CHECK_SECONDS"} | {
    "HLS_HOST", "HLS_PORT", "HLS_TRUST_PROXY_HEADERS", "HLS_WORKERS", "HLS_VIEWER_WINDOW_SECONDS",
    "HLS_VIEWER_REPORT_SECONDS", "HLS_CACHE_MB", "HLS_CACHE_FILE_MB", "HLS_MAX_CONNECTIONS", "HLS_EGRESS_LOG",
}  # fmt: skip
NEVER_OUTSIDE_DJANGO = ("SECRET_KEY", "JWT_SIGNING_KEY", "STREAM_KEY_SECRET", "POSTGRES_PASSWORD",
                        "RABBITMQ_PASSWORD", "DATABASE_URL", "CELERY_BROKER_URL", "METRICS_TOKEN")  # fmt: skip


@pytest.mark.parametrize(("name", "allowed"), [("ingest", INGEST_NAMES), ("hls", HLS_NAMES)])
def test_the_ingest_and_the_hls_server_get_only_what_they_need(
    rendered: dict[str, Any], name: str, allowed: set[str]
) -> None:
    service = rendered["services"][name]
    assert "env_file" not in service
    environment = service["environment"]
    assert set(environment) <= allowed, set(environment) - allowed
    for key in NEVER_OUTSIDE_DJANGO:
        assert key not in environment, key
    assert not any(
        example and example in value
        for value in environment.values()
        for secret, example in env_example().items()
        if secret in NEVER_OUTSIDE_DJANGO
    )
    assert environment["API_BASE_URL"] == "http://api:8000"


def test_each_service_has_its_own_secret_for_the_api(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    example = env_example()
    assert services["ingest"]["environment"]["INGEST_SHARED_SECRET"] == example["INGEST_SHARED_SECRET"]
    assert "HLS_REPORT_SECRET" not in services["ingest"]["environment"]
    assert services["hls"]["environment"]["HLS_REPORT_SECRET"] == example["HLS_REPORT_SECRET"]
    assert "INGEST_SHARED_SECRET" not in services["hls"]["environment"]


def test_the_example_holds_no_secret(rendered: dict[str, Any]) -> None:
    example = env_example()
    for name in SECRETS:
        assert example[name] == "", name
    assert "api" in example["ALLOWED_HOSTS"].split(",")  # the ingest and the health check call it so


def test_ports_80_443_1935_and_1936_are_published(rendered: dict[str, Any]) -> None:
    services = rendered["services"]

    def published(service: dict[str, Any]) -> set[tuple[int, int]]:
        return {(int(port["published"]), int(port["target"])) for port in service.get("ports", [])}

    assert published(services["nginx"]) == {(80, 80), (443, 443)}
    assert published(services["ingest"]) == {(1935, 1935), (1936, 1936)}
    for name in SERVICES - {"nginx", "ingest"}:
        assert published(services[name]) == set(), name
    assert services["ingest"]["environment"]["RTMP_HOST"] == "0.0.0.0"  # noqa: S104 - inside its container


def test_health_checks_and_start_order(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    for name in SERVICES - {"beat"}:
        assert services[name]["healthcheck"]["test"], name
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")

    def waits_for(name: str) -> dict[str, str]:
        return {dependency: rule["condition"] for dependency, rule in services[name]["depends_on"].items()}

    healthy = "service_healthy"
    assert waits_for("api") == {"postgres": healthy, "rabbitmq": healthy}
    assert waits_for("worker") == {"postgres": healthy, "rabbitmq": healthy}
    assert waits_for("uploads") == {"postgres": healthy, "rabbitmq": healthy}
    assert waits_for("ingest") == {"api": healthy, "seaweedfs": healthy}  # it creates the bucket
    assert waits_for("nginx") == {"api": healthy, "hls": "service_started"}
    assert waits_for("beat") == {"rabbitmq": healthy}


def test_named_volumes_are_shared_where_they_must_be(rendered: dict[str, Any]) -> None:
    assert set(rendered["volumes"]) == {"pgdata", "rabbitmq", "hls", "media", "private", "objects", "uploads"}
    services = rendered["services"]

    def mounts(name: str) -> dict[str, tuple[str, bool]]:
        return {source: (target, read_only) for source, target, read_only in volume_mounts(services[name])}

    assert mounts("postgres")["pgdata"][0] == "/var/lib/postgresql/data"
    assert mounts("rabbitmq")["rabbitmq"][0] == "/var/lib/rabbitmq"
    # The ingest writes HLS; nginx and hls_out serve it; the API writes private videos' markers
    # (hls_out/tokens.py) and the worker removes a deleted video's files.
    assert mounts("ingest")["hls"] == (services["ingest"]["environment"]["HLS_ROOT"], False)
    for name in ("api", "worker", "uploads"):
        assert mounts(name)["hls"] == (services[name]["environment"]["HLS_ROOT"], False), name
    for name in ("hls", "nginx"):
        assert mounts(name)["hls"][1] is True, name
    for name in ("api", "worker", "uploads"):
        assert mounts(name)["media"] == (services[name]["environment"]["MEDIA_ROOT"], False)
    assert mounts("nginx")["media"][1] is True
    # Uploads not public yet: the API writes them, the worker reads them, nginx never sees them.
    for name in ("api", "worker"):
        assert mounts(name)["private"] == (services[name]["environment"]["PRIVATE_MEDIA_ROOT"], False)
    for name in SERVICES - {"api", "worker"}:
        assert "private" not in mounts(name), name
    # tus uploads: the API writes them, the uploads worker transcodes them, the worker removes
    # expired ones and a deleted video's original; nothing else sees them.
    for name in ("api", "worker", "uploads"):
        assert mounts(name)["uploads"] == (services[name]["environment"]["UPLOAD_ROOT"], False), name
    for name in SERVICES - {"api", "worker", "uploads"}:
        assert "uploads" not in mounts(name), name


def test_nginx_gets_the_project_config_with_every_template_name(rendered: dict[str, Any]) -> None:
    nginx = rendered["services"]["nginx"]
    mounts = volume_mounts(nginx)
    binds = {
        Path(source): target
        for source, target, _ in mounts
        if source.startswith("/") and target != "/etc/nginx/tls"
    }
    assert binds == {
        NGINX_TEMPLATE: "/etc/nginx/templates/default.conf.template",
        # The image's entrypoint runs it (it must be executable) before rendering the template.
        ACCESS_SCRIPT: "/docker-entrypoint.d/18-tidecast-access.sh",
    }
    assert os.access(ACCESS_SCRIPT, os.X_OK)
    environment = nginx["environment"]
    assert template_names(NGINX_TEMPLATE.read_text()) <= set(environment)
    assert all(
        re.match(environment["NGINX_ENVSUBST_FILTER"], name)
        for name in template_names(NGINX_TEMPLATE.read_text())
    )
    mounted = {target for source, target, _ in mounts if not source.startswith("/")}
    assert {environment["TIDECAST_HLS_ROOT"], environment["TIDECAST_MEDIA_ROOT"]} == mounted
    assert environment["TIDECAST_ADMIN_ALLOW_FROM"] == env_example()["ADMIN_ALLOW_FROM"]
    assert environment["TIDECAST_TRUSTED_PROXIES"] == env_example()["TRUSTED_PROXIES"]
    assert environment["TIDECAST_API_UPSTREAM"] == "api:8000"
    assert (
        environment["TIDECAST_HLS_UPSTREAM"]
        == f"hls:{rendered['services']['hls']['environment']['HLS_PORT']}"
    )


def test_hls_out_counts_viewers_behind_nginx_only(rendered: dict[str, Any]) -> None:
    """It trusts X-Real-IP, so nothing but nginx may reach it: no published port."""
    hls = rendered["services"]["hls"]
    environment = hls["environment"]
    assert hls["command"] == ["hls"]
    assert environment["HLS_TRUST_PROXY_HEADERS"] == "1"
    assert environment["HLS_HOST"] == "0.0.0.0"  # noqa: S104 - inside its container
    assert environment["API_BASE_URL"] == "http://api:8000"
    assert "ports" not in hls
    assert hls["healthcheck"]["test"] == ["CMD", "tidecast-healthcheck", "tcp", environment["HLS_PORT"]]


def test_the_dockerfile_copies_only_what_exists() -> None:
    """No engine here to build it: every path it copies from the repository must exist."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.MULTILINE)
    sources = [source for line in copies for source in line.split()[:-1]]
    assert "pyproject.toml" in sources
    for source in sources:
        assert (REPO / source).exists(), source
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, flags=re.MULTILINE)
    assert re.search(r"^USER tidecast", dockerfile, flags=re.MULTILINE)
    assert "collectstatic" in dockerfile


def test_the_entrypoint_is_valid_shell_with_every_role() -> None:
    entrypoint = DOCKER / "entrypoint.sh"
    subprocess.run(["sh", "-n", str(entrypoint)], check=True, timeout=10)
    roles = set(re.findall(r"^    (\w+)\)$", entrypoint.read_text(), flags=re.MULTILINE))
    assert TIDECAST_SERVICES | {"manage"} <= roles
    assert "migrate --noinput" in entrypoint.read_text()


def test_the_ingest_documents_rtmps_with_a_real_certificate_mounted_read_only(
    rendered: dict[str, Any],
) -> None:
    ingest = rendered["services"]["ingest"]
    assert ingest["environment"]["RTMPS_PORT"] == "1936"
    # Blank in the example: RTMPS stays off until a certificate is named.
    assert ingest["environment"]["RTMPS_CERT_FILE"] == ingest["environment"]["RTMPS_KEY_FILE"] == ""
    mounts = {target: read_only for _, target, read_only in volume_mounts(ingest)}
    assert mounts["/etc/tidecast/tls"] is True


def test_nginx_gets_its_certificate_only_from_the_operator(rendered: dict[str, Any]) -> None:
    nginx = rendered["services"]["nginx"]
    environment = nginx["environment"]
    example = env_example()
    assert (environment["TIDECAST_TLS_CERT_FILE"], environment["TIDECAST_TLS_KEY_FILE"]) == (
        example["HTTPS_CERT_FILE"],
        example["HTTPS_KEY_FILE"],
    )
    mounts = {target: read_only for _, target, read_only in volume_mounts(nginx)}
    assert mounts["/etc/nginx/tls"] is True


def test_uploads_are_transcoded_by_their_own_worker_at_a_lower_cpu_priority(rendered: dict[str, Any]) -> None:
    """Its own queue and concurrency (the entrypoint's `uploads` role), a smaller CPU weight than
    the live pipeline's containers, and a health check naming its own node."""
    services = rendered["services"]
    uploads = services["uploads"]
    assert uploads["command"] == ["uploads"]
    environment = uploads["environment"]
    assert environment["UPLOAD_TRANSCODE_CONCURRENCY"] == env_example()["UPLOAD_TRANSCODE_CONCURRENCY"]
    # The API queues on the queue this worker serves: both read UPLOAD_QUEUE from the env file.
    assert environment.get("UPLOAD_QUEUE") == services["api"]["environment"].get("UPLOAD_QUEUE")
    assert 0 < int(uploads["cpu_shares"]) < 1024  # Docker's default weight is 1024
    for name in ("api", "ingest", "worker", "hls", "nginx"):
        assert "cpu_shares" not in services[name], name
    assert "uploads@$$HOSTNAME" in uploads["healthcheck"]["test"][1]
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    role = entrypoint[entrypoint.index("    uploads)") :].split(";;", 1)[0]
    assert '-n "uploads@%h"' in role
    assert '-Q "${UPLOAD_QUEUE:-uploads}"' in role
    assert '--concurrency "${UPLOAD_TRANSCODE_CONCURRENCY:-1}"' in role
    # The default worker does not serve the uploads queue (no -Q: the default queue only).
    worker = entrypoint[entrypoint.index("    worker)") :].split(";;", 1)[0]
    assert "-Q" not in worker


def test_both_workers_serve_task_metrics_on_the_compose_network_only(rendered: dict[str, Any]) -> None:
    """The prefork pools sum their children's figures through a folder of their own, on a port
    Prometheus reaches on the Compose network and nobody reaches from outside."""
    services = rendered["services"]
    for name in ("worker", "uploads"):
        environment = services[name]["environment"]
        assert environment["WORKER_METRICS_HOST"] == "0.0.0.0", name  # noqa: S104 - the Compose network
        port = environment["WORKER_METRICS_PORT"]
        assert int(port) > 0, name
        assert environment["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/"), name
        assert port in [str(exposed) for exposed in services[name]["expose"]], name
        assert "ports" not in services[name], name
    operations = (REPO / "docs" / "operations.md").read_text()
    assert '"uploads:9102"' in operations


def test_the_api_runs_threaded_workers_for_uploads_streamed_through_nginx() -> None:
    """nginx passes tus PATCH bodies on unbuffered: a sync worker would be killed by its timeout
    in the middle of a long one."""
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    role = entrypoint[entrypoint.index("    api)") :].split(";;", 1)[0]
    assert '--worker-class gthread --threads "${GUNICORN_THREADS:-4}"' in role
    site = (DOCKER / "nginx" / "tidecast.conf").read_text()
    uploads = site[site.index("location /api/uploads/ {") :].split("}", 1)[0]
    assert "proxy_request_buffering off;" in uploads
