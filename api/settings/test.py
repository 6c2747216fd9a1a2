"""The test suite: PostgreSQL when DATABASE_URL is set (CI), SQLite otherwise."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
INGEST_SHARED_SECRET = env.str("INGEST_SHARED_SECRET", default="test-ingest-secret")
HLS_REPORT_SECRET = env.str("HLS_REPORT_SECRET", default="test-hls-report-secret")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
RESTREAM_ALLOW_PRIVATE_DESTINATIONS = env.bool("RESTREAM_ALLOW_PRIVATE_DESTINATIONS", default=True)
