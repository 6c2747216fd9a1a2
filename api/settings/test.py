"""The test suite: PostgreSQL when DATABASE_URL is set (CI), SQLite otherwise."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
INGEST_SHARED_SECRET = env.str("INGEST_SHARED_SECRET", default="test-ingest-secret")
HLS_REPORT_SECRET = env.str("HLS_REPORT_SECRET", default="test-hls-report-secret")
PLAYBACK_TOKEN_KEY = env.str("PLAYBACK_TOKEN_KEY", default="test-playback-token-key-0123456789")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": STORAGES["default"],  # noqa: F405 - the file system, or S3 when STORAGE_S3_* are set
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The tests' webhook receivers listen on 127.0.0.1 (the SSRF tests turn this off), and retry soon.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=True)
WEBHOOK_RETRY_DELAYS = env.list("WEBHOOK_RETRY_DELAYS", cast=float, default=[0.5, 0.5, 1, 1, 1])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=3.0)
RESTREAM_ALLOW_PRIVATE_DESTINATIONS = env.bool("RESTREAM_ALLOW_PRIVATE_DESTINATIONS", default=True)
