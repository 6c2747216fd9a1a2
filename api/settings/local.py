"""Local development: `make run` on a fresh machine, embedded defaults, nothing to configure.

DEBUG (base) stays off unless DJANGO_DEBUG says otherwise (runstack, behind `make run`, turns it on for
the processes it starts): manage.py and the Celery worker fall back to these settings, and a
process started without DJANGO_SETTINGS_MODULE must never run in debug.
"""

import secrets

from .base import *  # noqa: F403
from .base import DATA_DIR, env


def _local_secret(name: str) -> str:
    """A random secret kept in the data folder, so a fresh checkout never runs on a known key."""
    path = DATA_DIR / f".{name}"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("secret_key")
SIMPLE_JWT["SIGNING_KEY"] = env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY  # noqa: F405
INGEST_SHARED_SECRET = env.str("INGEST_SHARED_SECRET", default="") or _local_secret("ingest_secret")
HLS_REPORT_SECRET = env.str("HLS_REPORT_SECRET", default="") or _local_secret("hls_report_secret")
# Local receivers (a bot on this machine) are the usual webhook targets in development.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=True)
PLAYBACK_TOKEN_KEY = env.str("PLAYBACK_TOKEN_KEY", default="") or _local_secret("playback_token_key")
RESTREAM_ALLOW_PRIVATE_DESTINATIONS = env.bool("RESTREAM_ALLOW_PRIVATE_DESTINATIONS", default=True)
